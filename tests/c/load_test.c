/* Loads the module as applications do (dlopen on Unix, LoadLibrary on Windows) and
 * checks the basic C interface: C_GetFunctionList, C_Initialize (NULL and with OS
 * locking), C_GetInfo, C_GetInterfaceList/C_GetInterface, C_Finalize; on Unix also
 * fork. Built with gcc (tests/c/run.sh, tests/abi.rs) and with x86_64-w64-mingw32-gcc
 * (scripts/test-windows.sh, run under Wine).
 * With a software card file (eimza-vcard create CARD --key p256, PIN 123456) it also
 * opens the token through the header's structures, which are packed on Windows: slot
 * list, token info, session, login (a wrong PIN first: exactly one try spent), key
 * search by template, ECDSA signature, logout.
 * Usage: load_test MODULE [CARD]   (exit 0 = all checks passed) */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "eimza_pkcs11.h"

static int failures = 0;
#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (cond) {                                                              \
      printf("ok   ");                                                       \
    } else {                                                                 \
      printf("FAIL ");                                                       \
      failures++;                                                            \
    }                                                                        \
    printf(__VA_ARGS__);                                                     \
    printf("\n");                                                            \
  } while (0)

/* PKCS#11 constants the header does not carry (it names only what simple callers need). */
#define CKF_TOKEN_PRESENT_ 0x1UL
#define CKF_LOGIN_REQUIRED_ 0x4UL
#define CKF_USER_PIN_INITIALIZED_ 0x8UL
#define CKF_TOKEN_INITIALIZED_ 0x400UL
#define CKF_USER_PIN_COUNT_LOW_ 0x10000UL
#define CKF_SERIAL_SESSION_ 0x4UL
#define CKU_USER_ 1UL
#define CKA_CLASS_ 0x0UL
#define CKA_KEY_TYPE_ 0x100UL
#define CKO_PRIVATE_KEY_ 3UL
#define CKK_EC_ 3UL
#define CKM_ECDSA_SHA256_ 0x1044UL
#define CKR_PIN_INCORRECT_ 0xA0UL
#define CKR_USER_NOT_LOGGED_IN_ 0x101UL

typedef CK_RV (*get_function_list_fn)(CK_FUNCTION_LIST **);
typedef CK_RV (*get_interface_list_fn)(CK_INTERFACE *, CK_ULONG *);
typedef CK_RV (*get_interface_fn)(CK_UTF8CHAR *, CK_VERSION *, CK_INTERFACE **, CK_FLAGS);

/* The token part: one software card with one P-256 key, PIN 123456. */
static void token_checks(CK_FUNCTION_LIST *f, const char *card) {
#ifdef _WIN32
  _putenv_s(EIMZA_PKCS11_ENV_VIRTUAL_CARD, card);
#else
  setenv(EIMZA_PKCS11_ENV_VIRTUAL_CARD, card, 1);
#endif
  CK_RV rv = f->C_Initialize(NULL);
  CHECK(rv == CKR_OK, "C_Initialize with the software card = %#lx", rv);
  CK_SLOT_ID slots[8];
  CK_ULONG count = 8;
  rv = f->C_GetSlotList(1, slots, &count);
  CHECK(rv == CKR_OK && count >= 1, "C_GetSlotList(tokenPresent) = %#lx, %lu slots", rv, count);
  if (rv != CKR_OK || count < 1) return;
  /* The software card is the last slot (PC/SC readers come first). */
  CK_SLOT_ID slot = slots[count - 1];
  CK_SLOT_INFO slot_info;
  rv = f->C_GetSlotInfo(slot, &slot_info);
  CHECK(rv == CKR_OK && (slot_info.flags & CKF_TOKEN_PRESENT_) &&
            memcmp(slot_info.slotDescription, "eimza software card", 19) == 0,
        "C_GetSlotInfo: '%.19s', flags %#lx", slot_info.slotDescription, slot_info.flags);
  CK_TOKEN_INFO token;
  rv = f->C_GetTokenInfo(slot, &token);
  CK_FLAGS want = CKF_LOGIN_REQUIRED_ | CKF_USER_PIN_INITIALIZED_ | CKF_TOKEN_INITIALIZED_;
  CHECK(rv == CKR_OK && (token.flags & want) == want && token.ulMinPinLen == 6 && token.ulMaxPinLen == 6 &&
            token.firmwareVersion.major + token.hardwareVersion.major < 512,
        "C_GetTokenInfo: flags %#lx, PIN length %lu..%lu", token.flags, token.ulMinPinLen, token.ulMaxPinLen);
  CK_SESSION_HANDLE session = 0;
  rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION_, NULL, NULL, &session);
  CHECK(rv == CKR_OK && session != 0, "C_OpenSession = %#lx", rv);

  /* A wrong PIN costs exactly one try: CKF_USER_PIN_COUNT_LOW appears. */
  rv = f->C_Login(session, CKU_USER_, (CK_UTF8CHAR *)"000000", 6);
  CHECK(rv == CKR_PIN_INCORRECT_, "C_Login with a wrong PIN = %#lx", rv);
  rv = f->C_GetTokenInfo(slot, &token);
  CHECK(rv == CKR_OK && (token.flags & CKF_USER_PIN_COUNT_LOW_), "one try spent: flags %#lx", token.flags);
  rv = f->C_Login(session, CKU_USER_, (CK_UTF8CHAR *)"123456", 6);
  CHECK(rv == CKR_OK, "C_Login = %#lx", rv);
  rv = f->C_GetTokenInfo(slot, &token);
  CHECK(rv == CKR_OK && !(token.flags & CKF_USER_PIN_COUNT_LOW_), "counter restored: flags %#lx", token.flags);

  /* A template of two attributes (CK_ATTRIBUTE is 16 bytes on Windows, 24 on Linux). */
  CK_ULONG class_value = CKO_PRIVATE_KEY_, key_type = CKK_EC_;
  CK_ATTRIBUTE template[2] = {
      {CKA_CLASS_, &class_value, sizeof class_value},
      {CKA_KEY_TYPE_, &key_type, sizeof key_type},
  };
  CK_OBJECT_HANDLE keys[4];
  CK_ULONG found = 0;
  rv = f->C_FindObjectsInit(session, template, 2);
  CHECK(rv == CKR_OK, "C_FindObjectsInit = %#lx", rv);
  rv = f->C_FindObjects(session, keys, 4, &found);
  CHECK(rv == CKR_OK && found == 1, "C_FindObjects: %lu EC private key(s)", found);
  CHECK(f->C_FindObjectsFinal(session) == CKR_OK, "C_FindObjectsFinal");
  if (found != 1) return;

  CK_MECHANISM mechanism = {CKM_ECDSA_SHA256_, NULL, 0};
  rv = f->C_SignInit(session, &mechanism, keys[0]);
  CHECK(rv == CKR_OK, "C_SignInit(CKM_ECDSA_SHA256) = %#lx", rv);
  CK_BYTE data[] = "signed from C", signature[132];
  CK_ULONG length = 0;
  rv = f->C_Sign(session, data, sizeof data - 1, NULL, &length);
  CHECK(rv == CKR_OK && length == 64, "C_Sign length query = %#lx, %lu bytes", rv, length);
  length = sizeof signature;
  rv = f->C_Sign(session, data, sizeof data - 1, signature, &length);
  CHECK(rv == CKR_OK && length == 64, "C_Sign = %#lx, %lu bytes (P-256: r || s)", rv, length);
  CHECK(f->C_Logout(session) == CKR_OK, "C_Logout");
  rv = f->C_SignInit(session, &mechanism, keys[0]);
  CHECK(rv == CKR_USER_NOT_LOGGED_IN_, "C_SignInit after logout = %#lx", rv);
  CHECK(f->C_CloseSession(session) == CKR_OK, "C_CloseSession");
  CHECK(f->C_Finalize(NULL) == CKR_OK, "C_Finalize");
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s MODULE [CARD]\n", argv[0]);
    return 2;
  }
#ifdef _WIN32
  HMODULE lib = LoadLibraryA(argv[1]);
  if (!lib) {
    fprintf(stderr, "LoadLibrary: error %lu\n", (unsigned long)GetLastError());
    return 2;
  }
#define SYMBOL(name) ((void *)GetProcAddress(lib, name))
#else
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
#define SYMBOL(name) dlsym(lib, name)
#endif
  get_function_list_fn get_list = (get_function_list_fn)SYMBOL("C_GetFunctionList");
  get_interface_list_fn get_ifaces = (get_interface_list_fn)SYMBOL("C_GetInterfaceList");
  get_interface_fn get_iface = (get_interface_fn)SYMBOL("C_GetInterface");
  CHECK(get_list && get_ifaces && get_iface, "entry points exported");
  if (!get_list || !get_ifaces || !get_iface) return 1;

  CK_FUNCTION_LIST *f = NULL;
  CHECK(get_list(NULL) == CKR_ARGUMENTS_BAD, "C_GetFunctionList(NULL) = CKR_ARGUMENTS_BAD");
  CHECK(get_list(&f) == CKR_OK && f != NULL, "C_GetFunctionList");
  CHECK(f->version.major == 2 && f->version.minor == 40, "function list version 2.40");

  /* Every table entry is present. */
  size_t count = (sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void *);
  int missing = 0;
  for (size_t i = 0; i < count; i++) {
    void **slot = (void **)((char *)f + offsetof(CK_FUNCTION_LIST, C_Initialize)) + i;
    if (*slot == NULL) missing++;
  }
  CHECK(count == 68 && missing == 0, "2.40 table: %zu entries, %d missing", count, missing);

  CK_INFO info;
  CHECK(f->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo before C_Initialize");
  CHECK(f->C_Finalize(NULL) == CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize before C_Initialize");

  CK_RV rv = f->C_Initialize(NULL);
  CHECK(rv == CKR_OK, "C_Initialize(NULL) = %#lx", rv);
  CHECK(f->C_Initialize(NULL) == CKR_CRYPTOKI_ALREADY_INITIALIZED, "second C_Initialize");
  CHECK(f->C_GetInfo(NULL) == CKR_ARGUMENTS_BAD, "C_GetInfo(NULL) = CKR_ARGUMENTS_BAD");
  memset(&info, 0, sizeof info);
  CHECK(f->C_GetInfo(&info) == CKR_OK, "C_GetInfo");
  CHECK(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40, "cryptoki version 2.40");
  CHECK(memcmp(info.manufacturerID, EIMZA_PKCS11_MANUFACTURER, strlen(EIMZA_PKCS11_MANUFACTURER)) == 0 &&
            info.manufacturerID[31] == ' ',
        "manufacturer '%.32s' space padded", info.manufacturerID);
#ifndef _WIN32
  /* fork: the child must initialise its own state; its C_Finalize leaves the
   * parent's alone. */
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    int bad = 0;
    if (f->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 1;
    if (f->C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED) bad |= 2;
    if (f->C_Initialize(NULL) != CKR_OK) bad |= 4;
    if (f->C_GetInfo(&info) != CKR_OK) bad |= 8;
    if (f->C_Finalize(NULL) != CKR_OK) bad |= 16;
    _exit(bad);
  }
  int status = -1;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child: own C_Initialize/C_Finalize (status %d)",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  CHECK(f->C_GetInfo(&info) == CKR_OK, "parent still initialised after the child's C_Finalize");
#endif
  CHECK(f->C_Finalize((void *)1) == CKR_ARGUMENTS_BAD, "C_Finalize(non-NULL) = CKR_ARGUMENTS_BAD");
  CHECK(f->C_Finalize(NULL) == CKR_OK, "C_Finalize");

  /* OS locking with all four callbacks absent, and an incomplete set. */
  CK_C_INITIALIZE_ARGS args;
  memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  args.pReserved = (void *)"ignored";
  CHECK(f->C_Initialize(&args) == CKR_OK, "C_Initialize(CKF_OS_LOCKING_OK, pReserved set)");
  CHECK(f->C_Finalize(NULL) == CKR_OK, "C_Finalize");
  args.CreateMutex = (CK_CREATEMUTEX)1;
  CHECK(f->C_Initialize(&args) == CKR_ARGUMENTS_BAD, "one mutex callback only = CKR_ARGUMENTS_BAD");

  CK_ULONG n = 0;
  CHECK(get_ifaces(NULL, NULL) == CKR_ARGUMENTS_BAD, "C_GetInterfaceList(NULL, NULL)");
  CHECK(get_ifaces(NULL, &n) == CKR_OK && n == 2, "C_GetInterfaceList count = %lu", n);
  CK_INTERFACE ifaces[2];
  CK_ULONG small = 1;
  CHECK(get_ifaces(ifaces, &small) == CKR_BUFFER_TOO_SMALL && small == 2, "C_GetInterfaceList too small");
  CHECK(get_ifaces(ifaces, &n) == CKR_OK, "C_GetInterfaceList");
  int found30 = 0;
  for (CK_ULONG i = 0; i < n; i++) {
    CK_VERSION *v = (CK_VERSION *)ifaces[i].pFunctionList;
    CHECK(strcmp((char *)ifaces[i].pInterfaceName, "PKCS 11") == 0, "interface %lu named 'PKCS 11', version %d.%d", i,
          v->major, v->minor);
    if (v->major == 3 && v->minor == 0) {
      CK_FUNCTION_LIST_3_0 *f3 = (CK_FUNCTION_LIST_3_0 *)ifaces[i].pFunctionList;
      size_t c3 = (sizeof(CK_FUNCTION_LIST_3_0) - offsetof(CK_FUNCTION_LIST_3_0, C_Initialize)) / sizeof(void *);
      int missing3 = 0;
      for (size_t j = 0; j < c3; j++) {
        void **slot = (void **)((char *)f3 + offsetof(CK_FUNCTION_LIST_3_0, C_Initialize)) + j;
        if (*slot == NULL) missing3++;
      }
      CHECK(c3 == 92 && missing3 == 0, "3.0 table: %zu entries, %d missing", c3, missing3);
      found30 = 1;
    }
  }
  CHECK(found30, "a 3.0 interface is offered");
  CK_INTERFACE *iface = NULL;
  CHECK(get_iface(NULL, NULL, &iface, 0) == CKR_OK && iface != NULL, "C_GetInterface(NULL, NULL)");
  CHECK(iface && ((CK_VERSION *)iface->pFunctionList)->major == 3, "default interface is 3.0");
  CK_VERSION v240 = {2, 40};
  CHECK(get_iface((CK_UTF8CHAR *)"PKCS 11", &v240, &iface, 0) == CKR_OK &&
            iface->pFunctionList == (void *)f,
        "C_GetInterface(\"PKCS 11\", 2.40) is the C_GetFunctionList table");
  CHECK(get_iface((CK_UTF8CHAR *)"Vendor X", NULL, &iface, 0) != CKR_OK, "unknown interface name refused");

  if (argc == 3) token_checks(f, argv[2]);

#ifdef _WIN32
  CHECK(FreeLibrary(lib), "FreeLibrary");
#else
  dlclose(lib);
#endif
  printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
