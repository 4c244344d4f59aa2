/* Small file helpers the unit tests share. */
#ifndef SPAMSTOP_TEST_FILES_H
#define SPAMSTOP_TEST_FILES_H

/* Counts the entries of dir other than "." and ".." (fails the test when
 * dir cannot be read). */
int files_in(const char *dir);

#endif
