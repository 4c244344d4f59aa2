#!/usr/bin/env python3
"""Checks that lib/'s modules include each other without a cycle.

A module is a folder of lib/; its public header is
lib/include/spamstop/NAME.h (the util headers belong to util).  A module
uses another when one of its files (or its public header) includes the
other's header.  Prints the module graph; exit 1 on a cycle, naming it.
Usage: module_deps.py SOURCE_DIR
"""
import glob
import os
import re
import sys

INCLUDE = re.compile(r'^#include "spamstop/(\w+)\.h"', re.M)


def owner(header, modules):
    """The module a public header belongs to."""
    return header if header in modules else 'util'


def graph(src):
    """{module: set of modules it includes}."""
    lib = os.path.join(src, 'lib')
    modules = {d for d in os.listdir(lib)
               if os.path.isdir(os.path.join(lib, d)) and d != 'include'}
    uses = {m: set() for m in modules}
    for m in modules:
        files = glob.glob(os.path.join(lib, m, '*.[ch]'))
        files += [os.path.join(lib, 'include', 'spamstop', h + '.h')
                  for h in [m] if os.path.exists(
                      os.path.join(lib, 'include', 'spamstop', h + '.h'))]
        for f in files:
            for h in INCLUDE.findall(open(f, encoding='utf-8').read()):
                o = owner(h, modules)
                if o != m:
                    uses[m].add(o)
    # util's own headers (buf.h, fsio.h, ...) are util's
    for h in glob.glob(os.path.join(lib, 'include', 'spamstop', '*.h')):
        name = os.path.basename(h)[:-2]
        if name in modules:
            continue
        for inc in INCLUDE.findall(open(h, encoding='utf-8').read()):
            o = owner(inc, modules)
            if o != 'util':
                uses['util'].add(o)
    return uses


def cycle(uses):
    """A list of modules forming a cycle, or None."""
    state = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(uses[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                c = visit(n, path + [n])
                if c:
                    return c
        state[m] = 2
        return None

    for m in sorted(uses):
        if m not in state:
            c = visit(m, [m])
            if c:
                return c
    return None


def main():
    uses = graph(sys.argv[1])
    for m in sorted(uses):
        print('%-10s -> %s' % (m, ' '.join(sorted(uses[m])) or '-'))
    c = cycle(uses)
    if c:
        print('cycle: ' + ' -> '.join(c))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
