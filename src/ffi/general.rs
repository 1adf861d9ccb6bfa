//! General-purpose functions (PKCS#11 §5.4): library lifecycle, info, function tables.

use super::*;
use crate::config::Config;
use std::ffi::c_void;

/// The reader set a new library state starts from. The fuzzer replaces it (see
/// [`set_reader_source`]); everyone else gets the system readers. A test hook: only in
/// development builds (the `software-card` feature), never in the shipped module.
#[cfg(feature = "software-card")]
pub type ReaderSource = fn() -> Arc<dyn crate::reader::ReaderSet>;

#[cfg(feature = "software-card")]
static READER_SOURCE: RwLock<Option<ReaderSource>> = RwLock::new(None);

/// Make C_Initialize build its state over another reader set (in-process fuzzing).
#[cfg(feature = "software-card")]
pub fn set_reader_source(source: Option<ReaderSource>) {
    *READER_SOURCE.write() = source;
}

/// The reader set and bind cache of a new library state: the system's readers with
/// the persistent cache, or a reader set installed by the fuzzer (bound uncached).
fn readers_and_cache(
    config: &Config,
) -> (
    Arc<dyn crate::reader::ReaderSet>,
    Option<crate::card::BindCache>,
) {
    #[cfg(feature = "software-card")]
    if let Some(make) = *READER_SOURCE.read() {
        return (make(), None);
    }
    (
        crate::reader::system_reader_set(config),
        config
            .cache_dir
            .clone()
            .map(|dir| crate::card::BindCache::new(dir, config.user)),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Initialize(pInitArgs: *mut c_void) -> CK_RV {
    call(
        "C_Initialize",
        || format!("pInitArgs={pInitArgs:p}"),
        || {
            let mut threads = true;
            if !pInitArgs.is_null() {
                // Copied: the caller's structure is never kept. pReserved is ignored on
                // purpose (NSS and p11-kit pass strings there).
                // SAFETY: not NULL, and a CK_C_INITIALIZE_ARGS by PKCS#11's contract;
                // read unaligned (a packed structure on Windows) and copied.
                let args =
                    unsafe { std::ptr::read_unaligned(pInitArgs as *const CK_C_INITIALIZE_ARGS) };
                // Fields by value: the structure is 1-byte packed on Windows.
                let callbacks = [
                    { args.CreateMutex }.is_some(),
                    { args.DestroyMutex }.is_some(),
                    { args.LockMutex }.is_some(),
                    { args.UnlockMutex }.is_some(),
                ];
                let given = callbacks.iter().filter(|c| **c).count();
                if given != 0 && given != 4 {
                    return Err(CKR_ARGUMENTS_BAD);
                }
                // The module locks with the operating system's primitives. Callbacks
                // with CKF_OS_LOCKING_OK leave it the choice; callbacks without it
                // would have to be used, which the module cannot: CKR_CANT_LOCK, as
                // PKCS#11 says (§2.2; no client passes that combination).
                if given == 4 && args.flags & CKF_OS_LOCKING_OK == 0 {
                    return Err(CKR_CANT_LOCK);
                }
                // With CKF_LIBRARY_CANT_CREATE_OS_THREADS it starts no thread (§2.2).
                threads = args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS == 0;
            }
            let pid = std::process::id();
            if matches!(&*GLOBAL.read(), Some(g) if g.pid == pid) {
                return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
            }
            let config = Config::from_env(threads, super::os::effective_uid());
            crate::log::install_panic_hook();
            crate::log::configure(&config);
            // Readers are listed (pcscd asked) before the global lock is taken: every
            // other call of every thread needs that lock.
            let (readers, bind_cache) = readers_and_cache(&config);
            let module = Arc::new(Module::with_bind_cache(readers, bind_cache));
            let mut global = GLOBAL.write();
            if let Some(existing) = global.take() {
                if existing.pid == pid {
                    // Another thread's C_Initialize won the race.
                    *global = Some(existing);
                    return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
                }
                // A forked child: the parent's readers and card handles must not be
                // closed from here, so the inherited state is leaked, not dropped.
                std::mem::forget(existing);
                crate::log_at!(Level::Info, "C_Initialize in a forked child: fresh state");
            }
            *global = Some(Global { module, pid });
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Finalize(pReserved: *mut c_void) -> CK_RV {
    call(
        "C_Finalize",
        || format!("pReserved={pReserved:p}"),
        || {
            let module = {
                let mut global = GLOBAL.write();
                match global.as_ref() {
                    // §2.1 order of checks: not initialised comes before the argument.
                    Some(g) if g.pid == std::process::id() => {
                        if !pReserved.is_null() {
                            return Err(CKR_ARGUMENTS_BAD);
                        }
                        global.take().map(|g| g.module)
                    }
                    // Never initialised here (or a forked child that did not call
                    // C_Initialize): the parent's state is left alone.
                    _ => None,
                }
            };
            // Card I/O (LOGOUT) happens after the global lock is released.
            let module = module.ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)?;
            module.finalize();
            Ok(())
        },
    )
}

fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (o, b) in out.iter_mut().zip(text.bytes()) {
        *o = b;
    }
    out
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(pInfo: *mut CK_INFO) -> CK_RV {
    entry(
        "C_GetInfo",
        || format!("pInfo={pInfo:p}"),
        |_| {
            // SAFETY: pInfo is NULL or the caller's CK_INFO.
            let info = unsafe { out_ref(pInfo) }?;
            let (major, minor) = library_version();
            *info = CK_INFO {
                cryptokiVersion: CK_VERSION {
                    major: 2,
                    minor: 40,
                },
                manufacturerID: padded(crate::token::MANUFACTURER),
                flags: 0,
                libraryDescription: padded("Turkish e-signature cards (AKIS)"),
                libraryVersion: CK_VERSION { major, minor },
            };
            Ok(())
        },
    )
}

fn library_version() -> (u8, u8) {
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    (major, minor)
}

#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    call(
        "C_GetFunctionList",
        || format!("ppFunctionList={ppFunctionList:p}"),
        || {
            // SAFETY: ppFunctionList is NULL or the caller's pointer slot.
            let out = unsafe { out_ref(ppFunctionList) }?;
            *out = &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
            Ok(())
        },
    )
}

/// Offered by C_GetInterfaceList: 3.0 and 2.20. The 2.40 entry is only found by
/// C_GetInterface when asked for 2.40 (it is C_GetFunctionList's table).
struct Interfaces([CK_INTERFACE; 3]);
const LISTED_INTERFACES: usize = 2;
/// The version at the start of each table of [`INTERFACES`], in the same order.
const INTERFACE_VERSIONS: [(u8, u8); 3] = [(3, 0), (2, 20), (2, 40)];
// SAFETY: `CK_INTERFACE` holds raw pointers, which are not Sync; these point at
// immutable statics (a name and function tables) that are never written.
unsafe impl Sync for Interfaces {}

const INTERFACE_NAME: &[u8] = b"PKCS 11\0";

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_2_20 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
]);

#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(
    pInterfacesList: *mut CK_INTERFACE,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    call(
        "C_GetInterfaceList",
        || format!("pInterfacesList={pInterfacesList:p}, pulCount={pulCount:p}"),
        || {
            let list: Vec<CK_INTERFACE> = INTERFACES.0[..LISTED_INTERFACES]
                .iter()
                .map(|i| CK_INTERFACE {
                    pInterfaceName: i.pInterfaceName,
                    pFunctionList: i.pFunctionList,
                    flags: i.flags,
                })
                .collect();
            // SAFETY: pulCount is NULL or a CK_ULONG; pInterfacesList is NULL or holds
            // *pulCount interfaces (§2.1).
            unsafe { write_array(pInterfacesList, pulCount, &list) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    pInterfaceName: *mut CK_UTF8CHAR,
    pVersion: *mut CK_VERSION,
    ppInterface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    call(
        "C_GetInterface",
        || {
            format!("pInterfaceName={pInterfaceName:p}, pVersion={pVersion:p}, ppInterface={ppInterface:p}, flags={flags:#x}")
        },
        || {
            // SAFETY: ppInterface is NULL or the caller's pointer slot.
            let out = unsafe { out_ref(ppInterface) }?;
            if !pInterfaceName.is_null() {
                // SAFETY: not NULL: a NUL-terminated string by PKCS#11's contract.
                let name =
                    unsafe { std::ffi::CStr::from_ptr(pInterfaceName as *const std::ffi::c_char) };
                if name.to_bytes() != &INTERFACE_NAME[..INTERFACE_NAME.len() - 1] {
                    return Err(CKR_ARGUMENTS_BAD);
                }
            }
            // SAFETY: pVersion is NULL or the caller's CK_VERSION.
            let wanted = unsafe { pVersion.as_ref() }.map(|v| (v.major, v.minor));
            let found = INTERFACES
                .0
                .iter()
                .zip(INTERFACE_VERSIONS)
                .find(|(i, version)| {
                    // Requested flags must all be offered (we offer none).
                    wanted.is_none_or(|w| w == *version) && (i.flags & flags) == flags
                });
            let (interface, _) = found.ok_or(CKR_ARGUMENTS_BAD)?;
            *out = interface as *const CK_INTERFACE as *mut CK_INTERFACE;
            Ok(())
        },
    )
}
