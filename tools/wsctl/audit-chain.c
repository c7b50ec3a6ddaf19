/* audit-chain.c — the audit log's hash chain and SHA-256, the very code
 * hostd seals records with (api/audit-chain.c, api/audit-sha256.c), so
 * that `wsctl audit verify` and hostd cannot disagree. Included rather than
 * linked: wsctl links only libcommon, libcurl and libcrypto (the Makefile
 * builds wsctl from the files of tools/wsctl); test-wsctl takes the same
 * symbols from libapi. */
#include "api/audit-chain.c"
#include "api/audit-sha256.c"
