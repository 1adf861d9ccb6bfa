//! Shared helpers of the integration tests: build and locate the module, load it
//! through its C ABI, and serialise tests (the library state is process-global).
#![allow(dead_code)]

// The tests run the module against software cards: a build without them would skip
// or fail everything for the wrong reason, so it stops here, loudly.
#[cfg(not(feature = "software-card"))]
compile_error!(
    "the tests need the software card: run them with the default features \
     (the `software-card` feature of eimza-pkcs11), not --no-default-features"
);

pub mod all_functions;
pub mod in_process;
pub mod rendezvous;
pub mod verify;

#[allow(unused_imports)] // not every test binary signs
pub use verify::*;

use cryptoki_sys::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, Once};

static BUILD: Once = Once::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time owns the loaded library's global state.
/// A test that failed half-way may have left the library initialised: reset it.
pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _ = finalize();
    guard
}

/// target/<profile> of this test binary (target/<profile>/deps/test-xxxx).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug")))
}

/// The built libeimza_pkcs11.so (built first if `cargo test` did not produce it).
/// Windows (the tests run under Wine, where cargo cannot run): eimza_pkcs11.dll, which
/// scripts/test-windows.sh builds before the tests.
pub fn module_path() -> PathBuf {
    #[cfg(not(windows))]
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--lib", "-p", "eimza-pkcs11"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if target_dir().file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --lib failed");
    });
    let name = if cfg!(windows) {
        "eimza_pkcs11.dll"
    } else {
        "libeimza_pkcs11.so"
    };
    let path = target_dir().join(name);
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// The library loaded with dlopen (once per test process; the same handle after).
pub fn library() -> &'static Pkcs11 {
    static LIB: std::sync::OnceLock<Pkcs11> = std::sync::OnceLock::new();
    LIB.get_or_init(|| unsafe { Pkcs11::new(module_path()).expect("dlopen module") })
}

pub fn functions() -> &'static CK_FUNCTION_LIST {
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    let get = library()
        .C_GetFunctionList
        .as_ref()
        .expect("C_GetFunctionList exported");
    assert_eq!(unsafe { get(&mut list) }, CKR_OK);
    unsafe { &*list }
}

pub fn functions_3_0() -> &'static CK_FUNCTION_LIST_3_0 {
    let mut iface: *mut CK_INTERFACE = std::ptr::null_mut();
    let get = library()
        .C_GetInterface
        .as_ref()
        .expect("C_GetInterface exported");
    assert_eq!(
        unsafe { get(std::ptr::null_mut(), std::ptr::null_mut(), &mut iface, 0) },
        CKR_OK
    );
    unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0) }
}

pub fn initialize() -> CK_RV {
    unsafe { (functions().C_Initialize.unwrap())(std::ptr::null_mut()) }
}

pub fn finalize() -> CK_RV {
    unsafe { (functions().C_Finalize.unwrap())(std::ptr::null_mut()) }
}

/// The software-card tool of the workspace (built on first use; on Windows built by
/// scripts/test-windows.sh).
pub fn vcard_bin() -> PathBuf {
    #[cfg(not(windows))]
    {
        static BUILD_VCARD: Once = Once::new();
        BUILD_VCARD.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-p", "virtual-card", "--bin", "eimza-vcard"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if target_dir().file_name().is_some_and(|p| p == "release") {
                cmd.arg("--release");
            }
            assert!(cmd.status().expect("cargo build eimza-vcard").success());
        });
    }
    target_dir().join(format!("eimza-vcard{}", std::env::consts::EXE_SUFFIX))
}

/// A new software card file `NAME.card` in a scratch folder, made by
/// `eimza-vcard create FILE ARGS...`.
pub fn make_card(name: &str, args: &[&str]) -> PathBuf {
    let dir = target_dir().join("pkcs11-test-cards");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{name}.card"));
    let _ = std::fs::remove_file(&path);
    let output = std::process::Command::new(vcard_bin())
        .arg("create")
        .arg(&path)
        .args(args)
        .output()
        .expect("run eimza-vcard");
    assert!(
        output.status.success(),
        "eimza-vcard create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

/// Raw C_GetAttributeValue of one attribute: (rv, ulValueLen, value).
pub fn raw_attribute(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    attribute: CK_ATTRIBUTE_TYPE,
    buffer_len: Option<usize>,
) -> (CK_RV, CK_ULONG, Vec<u8>) {
    let mut buf = vec![0u8; buffer_len.unwrap_or(0)];
    let mut template = [CK_ATTRIBUTE {
        type_: attribute,
        pValue: if buffer_len.is_some() {
            buf.as_mut_ptr() as *mut _
        } else {
            std::ptr::null_mut()
        },
        ulValueLen: buf.len() as CK_ULONG,
    }];
    let rv = unsafe {
        (functions().C_GetAttributeValue.unwrap())(session, object, template.as_mut_ptr(), 1)
    };
    let len = template[0].ulValueLen;
    if rv == CKR_OK && buffer_len.is_some() {
        buf.truncate(len as usize);
    }
    (rv, len, buf)
}

/// Raw C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal with any template.
pub fn raw_find(
    session: CK_SESSION_HANDLE,
    template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> Vec<CK_OBJECT_HANDLE> {
    let f = functions();
    let mut attrs: Vec<CK_ATTRIBUTE> = template
        .iter()
        .map(|(t, v)| CK_ATTRIBUTE {
            type_: *t,
            pValue: v.as_ptr() as *mut _,
            ulValueLen: v.len() as CK_ULONG,
        })
        .collect();
    let mut out = vec![0; 64];
    let mut count = 0;
    unsafe {
        assert_eq!(
            (f.C_FindObjectsInit.unwrap())(session, attrs.as_mut_ptr(), attrs.len() as CK_ULONG),
            CKR_OK
        );
        assert_eq!(
            (f.C_FindObjects.unwrap())(session, out.as_mut_ptr(), 64, &mut count),
            CKR_OK
        );
        assert_eq!((f.C_FindObjectsFinal.unwrap())(session), CKR_OK);
    }
    out.truncate(count as usize);
    out
}

/// For tests that call the module in process (its rlib) instead of through dlopen.
pub fn serial_in_process() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
