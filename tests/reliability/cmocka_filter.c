/* Test only: env CMOCKA_TEST_FILTER picks the cmocka tests a unit runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* Hands the pattern in CMOCKA_TEST_FILTER (wildcards * and ?) to cmocka
 * before main runs, so CI can run one test of a unit under a sanitizer. */
__attribute__((constructor)) static void cmocka_filter_from_env(void)
{
    const char *pattern = getenv("CMOCKA_TEST_FILTER");

    if (pattern != NULL && *pattern != '\0')
        cmocka_set_test_filter(pattern);
}
