# -*- coding: utf-8 -*-
# Python 2 launcher for Autobahn|Testsuite's wstest (installed and invoked by
# autobahn/install-wstest.sh through $WSTEST_HOME/bin/wstest).
#
# wstest binds 0.0.0.0 (autobahn's listenWS passes interface='', and the
# fuzzingserver's web port passes nothing). This launcher patches Twisted's
# listenTCP / listenSSL so that a wildcard or missing interface becomes
# 127.0.0.1, then hands over to wstest's own entry point. Patching the reactor
# base class (not the reactor instance) leaves wstest free to install its
# epoll reactor itself.
#
# Extra, harness-only mode (does not start wstest):
#   wstest --wsproto-list-cases PATTERN...   print the case ids that wstest's
#                                            own matcher selects, one a line
import sys
import warnings

# cryptography 3.3 warns on every start that Python 2 is deprecated; it is noise in the logs.
warnings.filterwarnings('ignore', message='Python 2 is no longer supported')

LOOPBACK = '127.0.0.1'
_WILDCARDS = ('', '0.0.0.0', '::')


def _patch_reactor():
    from twisted.internet import posixbase

    base = posixbase.PosixReactorBase
    orig_tcp = base.listenTCP
    orig_ssl = base.listenSSL

    def listenTCP(self, port, factory, backlog=50, interface=LOOPBACK):
        if interface in _WILDCARDS:
            interface = LOOPBACK
        return orig_tcp(self, port, factory, backlog, interface)

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=LOOPBACK):
        if interface in _WILDCARDS:
            interface = LOOPBACK
        return orig_ssl(self, port, factory, contextFactory, backlog, interface)

    base.listenTCP = listenTCP
    base.listenSSL = listenSSL


def _list_cases(patterns):
    from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, \
        CaseSetname, CaseBasename
    from autobahntestsuite.caseset import CaseSet

    cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
    unknown = [p for p in patterns if '*' not in p and p not in cs.CasesIndices]
    if unknown:
        sys.stderr.write('unknown case id(s): %s\n' % ', '.join(unknown))
        return 2
    for case_id in cs.parseSpecCases({'cases': patterns}):
        sys.stdout.write(case_id + '\n')
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--wsproto-list-cases':
        return _list_cases(sys.argv[2:])
    _patch_reactor()
    from autobahntestsuite.wstest import run
    sys.argv[0] = 'wstest'
    return run()


if __name__ == '__main__':
    sys.exit(main())
