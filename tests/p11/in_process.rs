//! Calls through the module's own function table (its rlib, in process), for tests that
//! also drive the module's software card (`reader::software::software_card`).

use cryptoki_sys::*;
use der::Decode;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use std::ptr::null_mut;

/// The first slot that is not a PC/SC reader: the software card's.
pub fn software_slot() -> CK_SLOT_ID {
    try_software_slot().expect("a software card slot")
}

/// The software card's slot, or `None` if the library is not initialised (or has no
/// such slot). Never a PC/SC reader: a machine's real or vpcd cards are not ours.
pub fn try_software_slot() -> Option<CK_SLOT_ID> {
    let mut slots = [0; 16];
    let mut count = slots.len() as CK_ULONG;
    let rv = unsafe { (F.C_GetSlotList.unwrap())(CK_FALSE, slots.as_mut_ptr(), &mut count) };
    if rv != CKR_OK {
        return None;
    }
    slots[..count as usize]
        .iter()
        .copied()
        .find(|slot| is_software_slot(*slot))
}

pub fn is_software_slot(slot: CK_SLOT_ID) -> bool {
    let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    let rv = unsafe { (F.C_GetSlotInfo.unwrap())(slot, &mut info) };
    rv == CKR_OK && info.flags & CKF_HW_SLOT == 0
}

pub fn open_session(slot: CK_SLOT_ID) -> Result<CK_SESSION_HANDLE, CK_RV> {
    let mut session = 0;
    match unsafe {
        (F.C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut session)
    } {
        CKR_OK => Ok(session),
        rv => Err(rv),
    }
}

pub fn login_user(session: CK_SESSION_HANDLE, pin: &[u8]) -> CK_RV {
    unsafe {
        (F.C_Login.unwrap())(
            session,
            CKU_USER,
            pin.as_ptr() as *mut _,
            pin.len() as CK_ULONG,
        )
    }
}

pub fn session_state(session: CK_SESSION_HANDLE) -> Result<CK_STATE, CK_RV> {
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    match unsafe { (F.C_GetSessionInfo.unwrap())(session, &mut info) } {
        CKR_OK => Ok(info.state),
        rv => Err(rv),
    }
}

/// The first object of `class`, if any (the find operation is always finished).
pub fn find_first(
    session: CK_SESSION_HANDLE,
    class: CK_OBJECT_CLASS,
) -> Result<Option<CK_OBJECT_HANDLE>, CK_RV> {
    let class = class.to_ne_bytes();
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_CLASS,
        pValue: class.as_ptr() as *mut _,
        ulValueLen: class.len() as CK_ULONG,
    }];
    let mut object = 0;
    let mut found = 0;
    unsafe {
        match (F.C_FindObjectsInit.unwrap())(session, template.as_mut_ptr(), 1) {
            CKR_OK => {}
            rv => return Err(rv),
        }
        let rv = (F.C_FindObjects.unwrap())(session, &mut object, 1, &mut found);
        let final_rv = (F.C_FindObjectsFinal.unwrap())(session);
        match (rv, final_rv) {
            (CKR_OK, CKR_OK) => Ok((found == 1).then_some(object)),
            (CKR_OK, rv) | (rv, _) => Err(rv),
        }
    }
}

/// The P-256 public key of the token's (only) public key object, from its CKA_EC_POINT
/// (a DER OCTET STRING around the uncompressed point).
pub fn p256_public_key(session: CK_SESSION_HANDLE) -> p256::ecdsa::VerifyingKey {
    let key = find_first(session, CKO_PUBLIC_KEY)
        .expect("find public key")
        .expect("a public key object");
    let mut buffer = vec![0u8; 128];
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_EC_POINT,
        pValue: buffer.as_mut_ptr() as *mut _,
        ulValueLen: buffer.len() as CK_ULONG,
    }];
    let rv = unsafe { (F.C_GetAttributeValue.unwrap())(session, key, template.as_mut_ptr(), 1) };
    assert_eq!(rv, CKR_OK, "CKA_EC_POINT");
    buffer.truncate(template[0].ulValueLen as usize);
    let point = der::asn1::OctetString::from_der(&buffer).expect("CKA_EC_POINT is DER");
    p256::ecdsa::VerifyingKey::from_sec1_bytes(point.as_bytes()).expect("a P-256 point")
}

/// Whether `signature` (r ‖ s) is a valid ECDSA signature of the 32-byte `prehash`.
pub fn p256_verifies(key: &p256::ecdsa::VerifyingKey, prehash: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    p256::ecdsa::Signature::from_slice(signature)
        .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok())
}
