//! Message digesting (PKCS#11 §5.12; pkcs11-spec.md §2.12): computed in the module.

use super::sign::{describe_mechanism, read_mechanism};
use super::*;
use crate::digest::DigestOutput;

#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
) -> CK_RV {
    entry(
        "C_DigestInit",
        || format!("hSession={hSession}, {}", describe_mechanism(pMechanism)),
        |m| {
            m.session(hSession)?;
            let (mechanism, has_params, _) = read_mechanism(pMechanism)?;
            m.digest_init(hSession, mechanism, has_params)
        },
    )
}

/// Deliver a digest by the out-buffer convention.
unsafe fn deliver(
    output: DigestOutput,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> Result<(), CK_RV> {
    let len = out_ref(pulDigestLen)?;
    match output {
        DigestOutput::Length(n) => {
            *len = n as CK_ULONG;
            Ok(())
        }
        DigestOutput::TooSmall(n) => {
            *len = n as CK_ULONG;
            Err(CKR_BUFFER_TOO_SMALL)
        }
        DigestOutput::Digest(digest) => write_array(pDigest, pulDigestLen, &digest),
    }
}

#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_Digest",
        || {
            format!("hSession={hSession}, pData={pData:p}, ulDataLen={ulDataLen}, pDigest={pDigest:p}, pulDigestLen={pulDigestLen:p}")
        },
        |m| {
            m.session(hSession)?;
            let data = in_slice(pData, ulDataLen)?;
            let capacity = out_capacity(pDigest, pulDigestLen)?;
            let output = m.digest(hSession, data, capacity)?;
            deliver(output, pDigest, pulDigestLen)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_DigestUpdate",
        || format!("hSession={hSession}, pPart={pPart:p}, ulPartLen={ulPartLen}"),
        |m| {
            m.session(hSession)?;
            let part = in_slice(pPart, ulPartLen)?;
            m.digest_update(hSession, part)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV {
    entry(
        "C_DigestKey",
        || format!("hSession={hSession}, hKey={hKey}"),
        |m| m.digest_key(hSession, hKey),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    hSession: CK_SESSION_HANDLE,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_DigestFinal",
        || format!("hSession={hSession}, pDigest={pDigest:p}, pulDigestLen={pulDigestLen:p}"),
        |m| {
            m.session(hSession)?;
            let capacity = out_capacity(pDigest, pulDigestLen)?;
            let output = m.digest_final(hSession, capacity)?;
            deliver(output, pDigest, pulDigestLen)
        },
    )
}
