//! Card removal, insertion and a reset by another application under a running module.
//! In process (the module's rlib), so the test can reach the software card the module
//! uses (`reader::software::software_card`) and pull it out of its reader.

mod p11;

use cryptoki_sys::*;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use eimza_pkcs11::reader::software::{software_card, SoftCard};
use p11::in_process::{login_user, open_session, session_state, software_slot};
use std::ptr::null_mut;

fn slot_info(slot: CK_SLOT_ID) -> CK_SLOT_INFO {
    let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (F.C_GetSlotInfo.unwrap())(slot, &mut info) },
        CKR_OK
    );
    info
}

fn token_rv(slot: CK_SLOT_ID) -> CK_RV {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    unsafe { (F.C_GetTokenInfo.unwrap())(slot, &mut info) }
}

fn event(flags: CK_FLAGS) -> Result<CK_SLOT_ID, CK_RV> {
    let mut slot = 0;
    match unsafe { (F.C_WaitForSlotEvent.unwrap())(flags, &mut slot, null_mut()) } {
        CKR_OK => Ok(slot),
        rv => Err(rv),
    }
}

fn open_logged_in(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let session = open_session(slot).expect("C_OpenSession");
    assert_eq!(login_user(session, b"123456"), CKR_OK);
    session
}

#[test]
fn removal_insertion_and_reset_by_others() {
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card("removal", &["--key", "p256"]);
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    let init = F.C_Initialize.unwrap();
    assert_eq!(unsafe { init(null_mut()) }, CKR_OK);
    let soft = software_card(&path).expect("the module's software card");

    // The software card's slot (PC/SC readers, if any, come first).
    let slot = software_slot();
    let mut count = 0;
    assert_eq!(
        unsafe { (F.C_GetSlotList.unwrap())(CK_FALSE, null_mut(), &mut count) },
        CKR_OK
    );
    let session = open_logged_in(slot);
    assert_eq!(session_state(session), Ok(CKS_RO_USER_FUNCTIONS));
    assert_eq!(event(CKF_DONT_BLOCK), Err(CKR_NO_EVENT));

    // Removal: no token, sessions gone, one event.
    soft.card().remove();
    assert_eq!(slot_info(slot).flags & CKF_TOKEN_PRESENT, 0);
    assert_eq!(token_rv(slot), CKR_TOKEN_NOT_PRESENT);
    assert_eq!(session_state(session), Err(CKR_SESSION_HANDLE_INVALID));
    assert_eq!(event(CKF_DONT_BLOCK), Ok(slot));
    assert_eq!(event(CKF_DONT_BLOCK), Err(CKR_NO_EVENT));
    let mut list_count = 0;
    assert_eq!(
        unsafe { (F.C_GetSlotList.unwrap())(CK_TRUE, null_mut(), &mut list_count) },
        CKR_OK
    );
    assert!(
        list_count < count,
        "the empty slot is not listed with tokenPresent"
    );
    let mut all = 0;
    assert_eq!(
        unsafe { (F.C_GetSlotList.unwrap())(CK_FALSE, null_mut(), &mut all) },
        CKR_OK
    );
    assert_eq!(all, count, "the slot list never shrinks");

    // Insertion: a new token, logged out; a blocking wait sees it.
    let waiter = std::thread::spawn(|| event(0));
    std::thread::sleep(std::time::Duration::from_millis(200));
    soft.card().insert();
    assert_eq!(waiter.join().unwrap(), Ok(slot));
    assert_eq!(token_rv(slot), CKR_OK);
    assert_eq!(session_state(session), Err(CKR_SESSION_HANDLE_INVALID));
    let session = open_logged_in(slot);

    // Another application resets the card: the security state is gone, so the
    // module logs the token out at its next card operation.
    let mut key = [0 as CK_OBJECT_HANDLE; 1];
    let mut found = 0;
    let class = CKO_PRIVATE_KEY.to_ne_bytes();
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_CLASS,
        pValue: class.as_ptr() as *mut _,
        ulValueLen: class.len() as CK_ULONG,
    }];
    unsafe {
        assert_eq!(
            (F.C_FindObjectsInit.unwrap())(session, template.as_mut_ptr(), 1),
            CKR_OK
        );
        assert_eq!(
            (F.C_FindObjects.unwrap())(session, key.as_mut_ptr(), 1, &mut found),
            CKR_OK
        );
        assert_eq!((F.C_FindObjectsFinal.unwrap())(session), CKR_OK);
    }
    assert_eq!(found, 1);
    SoftCard::reset(&*soft);
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_ECDSA_SHA256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut signature = [0u8; 64];
    let mut len: CK_ULONG = 64;
    unsafe {
        assert_eq!(
            (F.C_SignInit.unwrap())(session, &mut mechanism, key[0]),
            CKR_OK
        );
        let rv = (F.C_Sign.unwrap())(
            session,
            b"x".as_ptr() as *mut _,
            1,
            signature.as_mut_ptr(),
            &mut len,
        );
        assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
    }
    assert_eq!(session_state(session), Ok(CKS_RO_PUBLIC_SESSION));
    // Logging in again works, and so does signing.
    unsafe {
        assert_eq!(
            (F.C_Login.unwrap())(session, CKU_USER, b"123456".as_ptr() as *mut _, 6),
            CKR_OK
        );
        assert_eq!(
            (F.C_SignInit.unwrap())(session, &mut mechanism, key[0]),
            CKR_OK
        );
        len = 64;
        let rv = (F.C_Sign.unwrap())(
            session,
            b"x".as_ptr() as *mut _,
            1,
            signature.as_mut_ptr(),
            &mut len,
        );
        assert_eq!((rv, len), (CKR_OK, 64));
        assert_eq!((F.C_Finalize.unwrap())(null_mut()), CKR_OK);
    }
}
