//! Slot and token management (PKCS#11 §5.5).

use super::*;
use std::ffi::c_void;

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    tokenPresent: CK_BBOOL,
    pSlotList: *mut CK_SLOT_ID,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_GetSlotList",
        || format!("tokenPresent={tokenPresent}, pSlotList={pSlotList:p}, pulCount={pulCount:p}"),
        |m| {
            // SAFETY: pulCount is NULL or the caller's CK_ULONG (§2.1).
            unsafe { out_ref(pulCount) }?;
            let slots = m.slot_list(tokenPresent != CK_FALSE);
            // SAFETY: pSlotList is NULL or holds *pulCount slot ids, the caller's (§2.1).
            unsafe { write_array(pSlotList, pulCount, &slots) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) -> CK_RV {
    entry(
        "C_GetSlotInfo",
        || format!("slotID={slotID}, pInfo={pInfo:p}"),
        |m| {
            let info = m.slot_info(slotID)?;
            // SAFETY: pInfo is NULL or the caller's CK_SLOT_INFO.
            *unsafe { out_ref(pInfo) }? = info;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) -> CK_RV {
    entry(
        "C_GetTokenInfo",
        || format!("slotID={slotID}, pInfo={pInfo:p}"),
        |m| {
            m.slot(slotID)?;
            // SAFETY: pInfo is NULL or the caller's CK_TOKEN_INFO.
            let out = unsafe { out_ref(pInfo) }?;
            *out = m.token_info(slotID)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slotID: CK_SLOT_ID,
    pMechanismList: *mut CK_MECHANISM_TYPE,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_GetMechanismList",
        || format!("slotID={slotID}, pMechanismList={pMechanismList:p}, pulCount={pulCount:p}"),
        |m| {
            m.slot(slotID)?;
            // SAFETY: pulCount is NULL or the caller's CK_ULONG.
            unsafe { out_ref(pulCount) }?;
            let list = m.mechanism_list(slotID)?;
            // SAFETY: pMechanismList is NULL or holds *pulCount mechanism types.
            unsafe { write_array(pMechanismList, pulCount, &list) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slotID: CK_SLOT_ID,
    type_: CK_MECHANISM_TYPE,
    pInfo: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    entry(
        "C_GetMechanismInfo",
        || format!("slotID={slotID}, type={type_:#x}, pInfo={pInfo:p}"),
        |m| {
            m.slot(slotID)?;
            // SAFETY: pInfo is NULL or the caller's CK_MECHANISM_INFO.
            let out = unsafe { out_ref(pInfo) }?;
            *out = m.mechanism_info(slotID, type_)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    slotID: CK_SLOT_ID,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
    pLabel: *mut CK_UTF8CHAR,
) -> CK_RV {
    entry(
        "C_InitToken",
        || format!("slotID={slotID}, pPin={pPin:p}, ulPinLen={ulPinLen}, pLabel={pLabel:p}"),
        |m| {
            m.slot(slotID)?;
            // Cards are personalised by the issuer; re-initialising would destroy the
            // qualified certificate.
            Err(CKR_FUNCTION_NOT_SUPPORTED)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    pSlot: *mut CK_SLOT_ID,
    pReserved: *mut c_void,
) -> CK_RV {
    entry(
        "C_WaitForSlotEvent",
        || format!("flags={flags:#x}, pSlot={pSlot:p}, pReserved={pReserved:p}"),
        |m| {
            // SAFETY: pSlot is NULL or the caller's CK_SLOT_ID.
            let out = unsafe { out_ref(pSlot) }?;
            *out = m.wait_for_slot_event(flags & CKF_DONT_BLOCK != 0)?;
            Ok(())
        },
    )
}
