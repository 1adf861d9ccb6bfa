//! Session management and login (PKCS#11 §5.6, §5.7 PIN functions).

use super::*;
use std::ffi::c_void;

#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slotID: CK_SLOT_ID,
    flags: CK_FLAGS,
    pApplication: *mut c_void,
    Notify: CK_NOTIFY,
    phSession: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    entry(
        "C_OpenSession",
        || {
            format!("slotID={slotID}, flags={flags:#x}, pApplication={pApplication:p}, Notify={}, phSession={phSession:p}", Notify.is_some())
        },
        |m| {
            m.slot(slotID)?;
            // SAFETY: phSession is NULL or the caller's CK_SESSION_HANDLE.
            let out = unsafe { out_ref(phSession) }?;
            // Notify callbacks are never called: the module has no surrender points.
            *out = m.open_session(slotID, flags)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(
        "C_CloseSession",
        || format!("hSession={hSession}"),
        |m| m.close_session(hSession),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slotID: CK_SLOT_ID) -> CK_RV {
    entry(
        "C_CloseAllSessions",
        || format!("slotID={slotID}"),
        |m| m.close_all_sessions(slotID),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    hSession: CK_SESSION_HANDLE,
    pInfo: *mut CK_SESSION_INFO,
) -> CK_RV {
    entry(
        "C_GetSessionInfo",
        || format!("hSession={hSession}, pInfo={pInfo:p}"),
        |m| {
            let info = m.session(hSession)?.info();
            // SAFETY: pInfo is NULL or the caller's CK_SESSION_INFO.
            *unsafe { out_ref(pInfo) }? = info;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Login(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    // The PIN itself is never logged: its length only.
    entry(
        "C_Login",
        || {
            format!(
                "hSession={hSession}, userType={userType}, pPin={}, ulPinLen={ulPinLen}",
                if pPin.is_null() { "NULL" } else { "<redacted>" }
            )
        },
        |m| {
            let session = m.session(hSession)?;
            if pPin.is_null() {
                // No protected authentication path on this token.
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: pPin holds ulPinLen bytes, the caller's (§2.1).
            let pin = unsafe { pin_arg(pPin, ulPinLen) }?;
            crate::pin::login(&session, userType, pin)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_LoginUser(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
    pUsername: *mut CK_UTF8CHAR,
    ulUsernameLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_LoginUser",
        || {
            format!("hSession={hSession}, userType={userType}, ulPinLen={ulPinLen}, pUsername={pUsername:p}, ulUsernameLen={ulUsernameLen}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pUsername is NULL or holds ulUsernameLen bytes.
            unsafe { in_slice(pUsername, ulUsernameLen) }?;
            if pPin.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // The card has no user names: the name is ignored (PKCS#11 3.0 §5.7).
            // SAFETY: pPin holds ulPinLen bytes, the caller's (§2.1).
            let pin = unsafe { pin_arg(pPin, ulPinLen) }?;
            crate::pin::login(&session, userType, pin)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Logout(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(
        "C_Logout",
        || format!("hSession={hSession}"),
        |m| {
            let session = m.session(hSession)?;
            crate::pin::logout(&session)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    hSession: CK_SESSION_HANDLE,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_InitPIN",
        || format!("hSession={hSession}, ulPinLen={ulPinLen}"),
        |m| {
            let session = m.session(hSession)?;
            if pPin.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: pPin holds ulPinLen bytes.
            let pin = unsafe { pin_arg(pPin, ulPinLen) }?;
            crate::pin::init_pin(&session, pin)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    hSession: CK_SESSION_HANDLE,
    pOldPin: *mut CK_UTF8CHAR,
    ulOldLen: CK_ULONG,
    pNewPin: *mut CK_UTF8CHAR,
    ulNewLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_SetPIN",
        || format!("hSession={hSession}, ulOldLen={ulOldLen}, ulNewLen={ulNewLen}"),
        |m| {
            let session = m.session(hSession)?;
            if pOldPin.is_null() || pNewPin.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: pOldPin holds ulOldLen bytes, pNewPin ulNewLen bytes.
            let (old, new) = unsafe { (pin_arg(pOldPin, ulOldLen), pin_arg(pNewPin, ulNewLen)) };
            let (old, new) = (old?, new?);
            crate::pin::set_pin(&session, old, new)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    entry(
        "C_SessionCancel",
        || format!("hSession={hSession}, flags={flags:#x}"),
        |m| {
            // Search, signature, digest and verification exist; other flags are no-ops.
            let session = m.session(hSession)?;
            session.cancel(flags & CKF_FIND_OBJECTS != 0, flags & CKF_SIGN != 0);
            session
                .operations
                .cancel(flags & CKF_DIGEST != 0, flags & CKF_VERIFY != 0);
            Ok(())
        },
    )
}
