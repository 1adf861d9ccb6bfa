/* Test-only PKCS#11 shim: forwards every call to a real module (SHIM_MODULE) and
 * lets a test stage PIN situations the real module cannot reach (SoftHSM never
 * blocks a PIN):
 *   SHIM_OR_FLAGS        hex flags OR'ed into CK_TOKEN_INFO.flags
 *   SHIM_FLAGS_AFTER_FAIL hex flags OR'ed once a PIN call returned CKR_PIN_INCORRECT
 *   SHIM_LOGIN_RV / SHIM_SETPIN_RV / SHIM_INITPIN_RV  hex CK_RV returned instead of
 *                        calling the module
 *   SHIM_LOG             file that gets one line per C_Login/C_SetPIN/C_InitPIN
 * Only the PKCS#11 2.40 layout is needed: CK_VERSION then 68 function pointers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct { unsigned char major, minor; } CK_VERSION;
typedef struct { CK_VERSION version; void *fn[68]; } LIST;
typedef CK_RV (*GetFunctionList)(LIST **);
typedef CK_RV (*GetTokenInfo)(CK_ULONG, unsigned char *);
typedef CK_RV (*Login)(CK_ULONG, CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*SetPIN)(CK_ULONG, unsigned char *, CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*InitPIN)(CK_ULONG, unsigned char *, CK_ULONG);

enum { GET_TOKEN_INFO = 6, INIT_PIN = 10, SET_PIN = 11, LOGIN = 18 };
#define CKR_PIN_INCORRECT 0xA0UL
#define FLAGS_OFFSET 96 /* label 32, manufacturerID 32, model 16, serialNumber 16 */

static LIST shim, *real;
static int failed;

static CK_ULONG env_hex(const char *name, CK_ULONG fallback) {
    const char *v = getenv(name);
    return v ? strtoul(v, NULL, 16) : fallback;
}

static void note(const char *what, CK_RV rv) {
    const char *path = getenv("SHIM_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) { fprintf(f, "%s\n", what); fclose(f); }
    if (rv == CKR_PIN_INCORRECT) failed = 1;
}

static CK_RV get_token_info(CK_ULONG slot, unsigned char *info) {
    CK_RV rv = ((GetTokenInfo)real->fn[GET_TOKEN_INFO])(slot, info);
    if (rv == 0) {
        CK_ULONG flags;
        memcpy(&flags, info + FLAGS_OFFSET, sizeof flags);
        flags |= env_hex("SHIM_OR_FLAGS", 0);
        if (failed) flags |= env_hex("SHIM_FLAGS_AFTER_FAIL", 0);
        memcpy(info + FLAGS_OFFSET, &flags, sizeof flags);
    }
    return rv;
}

static CK_RV login(CK_ULONG s, CK_ULONG user, unsigned char *pin, CK_ULONG len) {
    CK_RV rv = getenv("SHIM_LOGIN_RV") ? env_hex("SHIM_LOGIN_RV", 0)
                                       : ((Login)real->fn[LOGIN])(s, user, pin, len);
    note(user == 0 ? "C_Login SO" : "C_Login", rv);
    return rv;
}

static CK_RV set_pin(CK_ULONG s, unsigned char *o, CK_ULONG ol, unsigned char *n, CK_ULONG nl) {
    CK_RV rv = getenv("SHIM_SETPIN_RV") ? env_hex("SHIM_SETPIN_RV", 0)
                                        : ((SetPIN)real->fn[SET_PIN])(s, o, ol, n, nl);
    note("C_SetPIN", rv);
    return rv;
}

static CK_RV init_pin(CK_ULONG s, unsigned char *pin, CK_ULONG len) {
    CK_RV rv = getenv("SHIM_INITPIN_RV") ? env_hex("SHIM_INITPIN_RV", 0)
                                         : ((InitPIN)real->fn[INIT_PIN])(s, pin, len);
    note("C_InitPIN", rv);
    return rv;
}

CK_RV C_GetFunctionList(LIST **out) {
    if (!real) {
        void *lib = dlopen(getenv("SHIM_MODULE"), RTLD_NOW | RTLD_LOCAL);
        GetFunctionList get = lib ? (GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
        if (!get || get(&real) != 0) return 5; /* CKR_GENERAL_ERROR */
        shim = *real;
        shim.fn[GET_TOKEN_INFO] = (void *)get_token_info;
        shim.fn[LOGIN] = (void *)login;
        shim.fn[SET_PIN] = (void *)set_pin;
        shim.fn[INIT_PIN] = (void *)init_pin;
    }
    *out = &shim;
    return 0;
}
