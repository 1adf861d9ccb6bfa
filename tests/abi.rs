//! The C ABI without a card: exports, function tables, C_Initialize/C_Finalize rules,
//! argument checks, and every function's answer before initialisation.

mod p11;

use cryptoki_sys::*;
use p11::*;
use std::ptr::null_mut;

#[test]
fn every_function_before_initialize_is_not_initialized() {
    let _guard = serial();
    let results = all_functions::call_all_with_null_args(functions_3_0());
    assert_eq!(results.len(), 92 - 5);
    for (name, rv) in results {
        assert_eq!(rv, CKR_CRYPTOKI_NOT_INITIALIZED, "{name}");
    }
}

/// `n` function pointers from `table + first`, read unaligned (packed on Windows).
///
/// # Safety
/// `table` points to a function table of at least `first + 8 * n` bytes.
unsafe fn table_entries(table: *const u8, first: usize, n: usize) -> Vec<usize> {
    (0..n)
        // SAFETY: inside the table (caller's promise); read_unaligned needs no alignment.
        .map(|i| unsafe { std::ptr::read_unaligned(table.add(first + i * 8) as *const usize) })
        .collect()
}

#[test]
fn function_tables_are_complete() {
    let _guard = serial();
    let f = functions();
    assert_eq!((f.version.major, f.version.minor), (2, 40));
    // Every entry non-NULL: view the table as an array of optional pointers, starting
    // after `version` (offset 8 on Unix, 2 on Windows where the tables are packed).
    let first = std::mem::offset_of!(CK_FUNCTION_LIST, C_Initialize);
    let n = (std::mem::size_of::<CK_FUNCTION_LIST>() - first) / 8;
    assert_eq!(n, 68);
    let entries = unsafe { table_entries(f as *const CK_FUNCTION_LIST as *const u8, first, n) };
    assert!(entries.iter().all(|p| *p != 0));
    let f3 = functions_3_0();
    assert_eq!((f3.version.major, f3.version.minor), (3, 0));
    let first3 = std::mem::offset_of!(CK_FUNCTION_LIST_3_0, C_Initialize);
    let n3 = (std::mem::size_of::<CK_FUNCTION_LIST_3_0>() - first3) / 8;
    assert_eq!(n3, 92);
    let entries3 =
        unsafe { table_entries(f3 as *const CK_FUNCTION_LIST_3_0 as *const u8, first3, n3) };
    assert!(entries3.iter().all(|p| *p != 0));
    // The 2.40 part of both tables points at the same functions.
    assert_eq!(&entries3[..68], entries);
}

#[test]
fn interface_list_and_lookup() {
    let _guard = serial();
    let lib = library();
    let list = lib.C_GetInterfaceList.as_ref().unwrap();
    let get = lib.C_GetInterface.as_ref().unwrap();
    unsafe {
        assert_eq!(list(null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
        let mut count = 0;
        assert_eq!(list(null_mut(), &mut count), CKR_OK);
        assert_eq!(count, 2);
        let mut one = 1;
        let mut buf: [CK_INTERFACE; 2] = std::mem::zeroed();
        assert_eq!(list(buf.as_mut_ptr(), &mut one), CKR_BUFFER_TOO_SMALL);
        assert_eq!(one, 2);
        assert_eq!(list(buf.as_mut_ptr(), &mut count), CKR_OK);
        let mut versions = Vec::new();
        for iface in &buf {
            let name = std::ffi::CStr::from_ptr(iface.pInterfaceName as *const std::ffi::c_char);
            assert_eq!(name.to_bytes(), b"PKCS 11");
            let v = &*(iface.pFunctionList as *const CK_VERSION);
            versions.push((v.major, v.minor));
        }
        // 3.0 first (the default), then the 2.x functions as OpenSC labels them.
        assert_eq!(versions, [(3, 0), (2, 20)]);
        let mut v220 = CK_VERSION {
            major: 2,
            minor: 20,
        };
        let mut iface: *mut CK_INTERFACE = null_mut();
        assert_eq!(
            get(c"PKCS 11".as_ptr() as *mut u8, &mut v220, &mut iface, 0),
            CKR_OK
        );
        // Fields by value: CK_INTERFACE is packed on Windows.
        assert_eq!({ (*iface).pFunctionList }, { buf[1].pFunctionList });
        let mut v240 = CK_VERSION {
            major: 2,
            minor: 40,
        };
        assert_eq!(
            get(c"PKCS 11".as_ptr() as *mut u8, &mut v240, &mut iface, 0),
            CKR_OK
        );
        assert_eq!(
            (*iface).pFunctionList as *const CK_FUNCTION_LIST,
            functions() as *const _
        );
        // §2.1: other names or versions, or flags we do not offer → CKR_ARGUMENTS_BAD.
        let mut v31 = CK_VERSION { major: 3, minor: 1 };
        assert_eq!(get(null_mut(), &mut v31, &mut iface, 0), CKR_ARGUMENTS_BAD);
        assert_eq!(
            get(c"Other".as_ptr() as *mut u8, null_mut(), &mut iface, 0),
            CKR_ARGUMENTS_BAD
        );
        // Fork-safe interfaces are not offered.
        assert_eq!(
            get(null_mut(), null_mut(), &mut iface, CKF_INTERFACE_FORK_SAFE),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            get(null_mut(), null_mut(), null_mut(), 0),
            CKR_ARGUMENTS_BAD
        );
    }
}

#[test]
fn initialize_argument_rules() {
    let _guard = serial();
    let f = functions();
    let init = f.C_Initialize.unwrap();
    let fin = f.C_Finalize.unwrap();
    unsafe extern "C" fn create(_m: *mut *mut std::ffi::c_void) -> CK_RV {
        CKR_OK
    }
    unsafe extern "C" fn other(_m: *mut std::ffi::c_void) -> CK_RV {
        CKR_OK
    }
    unsafe {
        // Some but not all mutex callbacks.
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: Some(create),
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: null_mut(),
        };
        assert_eq!(init(&mut args as *mut _ as *mut _), CKR_ARGUMENTS_BAD);
        // All four without OS locking: they would have to be used, and the module
        // only has the system's locks (§2.2).
        args.DestroyMutex = Some(other);
        args.LockMutex = Some(other);
        args.UnlockMutex = Some(other);
        args.flags = 0;
        assert_eq!(init(&mut args as *mut _ as *mut _), CKR_CANT_LOCK);
        assert_eq!(fin(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        // All four with OS locking; pReserved ignored.
        args.flags = CKF_OS_LOCKING_OK;
        args.DestroyMutex = Some(other);
        args.LockMutex = Some(other);
        args.UnlockMutex = Some(other);
        args.pReserved = c"configdir='x'".as_ptr() as *mut _;
        assert_eq!(init(&mut args as *mut _ as *mut _), CKR_OK);
        assert_eq!(init(null_mut()), CKR_CRYPTOKI_ALREADY_INITIALIZED);
        assert_eq!(fin(b"x".as_ptr() as *mut _), CKR_ARGUMENTS_BAD);
        assert_eq!(fin(null_mut()), CKR_OK);
        assert_eq!(fin(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        // No callbacks, no thread creation allowed.
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_LIBRARY_CANT_CREATE_OS_THREADS,
            pReserved: null_mut(),
        };
        assert_eq!(init(&mut args as *mut _ as *mut _), CKR_OK);
        assert_eq!(fin(null_mut()), CKR_OK);
    }
}

#[test]
fn racing_initialize_succeeds_exactly_once() {
    let _guard = serial();
    for _round in 0..5 {
        let results: Vec<CK_RV> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(initialize)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            results.iter().filter(|rv| **rv == CKR_OK).count(),
            1,
            "{results:?}"
        );
        assert_eq!(
            results
                .iter()
                .filter(|rv| **rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
                .count(),
            results.len() - 1,
            "{results:?}"
        );
        assert_eq!(finalize(), CKR_OK);
    }
}

#[test]
fn after_initialize_without_cards() {
    let _guard = serial();
    // No software card and PC/SC turned off (a pcscd with readers may be running on
    // this machine): an empty reader set.
    std::env::remove_var("EIMZA_VIRTUAL_CARD");
    std::env::set_var("EIMZA_PKCS11_PCSC", "0");
    assert_eq!(initialize(), CKR_OK);
    std::env::remove_var("EIMZA_PKCS11_PCSC");
    let f = functions();
    unsafe {
        let mut info: CK_INFO = std::mem::zeroed();
        assert_eq!((f.C_GetInfo.unwrap())(&mut info), CKR_OK);
        assert_eq!(
            (info.cryptokiVersion.major, info.cryptokiVersion.minor),
            (2, 40)
        );
        assert_eq!(&info.manufacturerID[..12], b"eimza-pkcs11");
        assert!(info.manufacturerID[12..].iter().all(|b| *b == b' '));
        assert_eq!((f.C_GetInfo.unwrap())(null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(
            (f.C_GetSlotList.unwrap())(0, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        let mut count = 0;
        assert_eq!(
            (f.C_GetSlotList.unwrap())(0, null_mut(), &mut count),
            CKR_OK
        );
        assert_eq!(count, 0, "no reader, no slot");
        let mut slot = 0;
        // Nothing pending without readers: CKF_DONT_BLOCK answers at once.
        let rv = (f.C_WaitForSlotEvent.unwrap())(CKF_DONT_BLOCK, &mut slot, null_mut());
        assert_eq!(rv, CKR_NO_EVENT);
        let bogus_slot = 0x7000_0000;
        let mut slot_info: CK_SLOT_INFO = std::mem::zeroed();
        assert_eq!(
            (f.C_GetSlotInfo.unwrap())(bogus_slot, &mut slot_info),
            CKR_SLOT_ID_INVALID
        );
        let mut token_info: CK_TOKEN_INFO = std::mem::zeroed();
        assert_eq!(
            (f.C_GetTokenInfo.unwrap())(bogus_slot, &mut token_info),
            CKR_SLOT_ID_INVALID
        );
        let mut session = 0;
        assert_eq!(
            (f.C_OpenSession.unwrap())(
                bogus_slot,
                CKF_SERIAL_SESSION,
                null_mut(),
                None,
                &mut session
            ),
            CKR_SLOT_ID_INVALID
        );
    }
    // Every slot and session function checks the slot id or session handle before
    // anything else (§2.1); there is no slot 0 and no session 0 here.
    let results = all_functions::call_all_with_null_args(functions_3_0());
    for (name, rv) in results {
        let expected = match name {
            "C_GetInfo" | "C_GetSlotList" | "C_WaitForSlotEvent" => CKR_ARGUMENTS_BAD,
            "C_GetSlotInfo" | "C_GetTokenInfo" | "C_GetMechanismList" | "C_GetMechanismInfo"
            | "C_InitToken" | "C_OpenSession" | "C_CloseAllSessions" => CKR_SLOT_ID_INVALID,
            _ => CKR_SESSION_HANDLE_INVALID,
        };
        assert_eq!(rv, expected, "{name}");
    }
    assert_eq!(finalize(), CKR_OK);
}

/// Windows: scripts/test-windows.sh builds the same program with mingw-w64 and runs it
/// under Wine against the DLL (no gcc inside Wine).
#[cfg(unix)]
#[test]
fn c_program_loads_the_module() {
    let _guard = serial();
    let module = module_path();
    let root = env!("CARGO_MANIFEST_DIR");
    let exe = target_dir().join("eimza_load_test");
    let status = std::process::Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-std=gnu99", "-I"])
        .arg(format!("{root}/include"))
        .arg(format!("{root}/tests/c/load_test.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-ldl")
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc failed");
    // With a card the program also logs in and signs through the header's structures.
    let card = make_card("c-load-test", &["--key", "p256"]);
    let output = std::process::Command::new(&exe)
        .arg(&module)
        .arg(&card)
        .env_remove("EIMZA_VIRTUAL_CARD")
        .output()
        .expect("run load_test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "load_test failed:\n{stdout}");
    assert!(stdout.contains("0 failures"), "{stdout}");
}
