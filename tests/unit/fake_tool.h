/* Fake host tools for unit tests that run remote scripts locally. */
#ifndef SPAMSTOP_TEST_FAKE_TOOL_H
#define SPAMSTOP_TEST_FAKE_TOOL_H

/*
 * Writes the executable script dir/bin/name ("#!/bin/sh" and body),
 * making dir/bin if needed; tests put dir/bin first on PATH.  Returns 0,
 * or -1 when the file cannot be written.
 */
int fake_tool(const char *dir, const char *name, const char *body);

#endif
