//! Object management (PKCS#11 §5.7): attributes, search; writes are refused.

use super::*;
use crate::object::AttrLookup;

#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(
        "C_GetAttributeValue",
        || {
            format!("hSession={hSession}, hObject={hObject}, pTemplate={pTemplate:p}, ulCount={ulCount}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pTemplate holds ulCount attributes, the caller's (§2.1).
            let template = unsafe { in_out_slice(pTemplate, ulCount) }?;
            let object = session.token.visible_object(hObject)?;
            // Every attribute is processed; the worst problem decides the result.
            let (mut sensitive, mut invalid, mut too_small) = (false, false, false);
            for attribute in template.iter_mut() {
                match object.lookup(attribute.type_) {
                    AttrLookup::Sensitive => {
                        attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        sensitive = true;
                    }
                    AttrLookup::Invalid => {
                        attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        invalid = true;
                    }
                    AttrLookup::Value(value) => {
                        let needed = value.len() as CK_ULONG;
                        if attribute.pValue.is_null() {
                            attribute.ulValueLen = needed;
                        } else if attribute.ulValueLen >= needed
                            // A template reused after an error still says
                            // CK_UNAVAILABLE_INFORMATION: no buffer is that big.
                            && to_usize(attribute.ulValueLen).is_ok()
                        {
                            // SAFETY: pValue holds ulValueLen >= value.len() bytes,
                            // the caller's; the module's value does not overlap it.
                            unsafe {
                                std::ptr::copy_nonoverlapping(
                                    value.as_ptr(),
                                    attribute.pValue as *mut u8,
                                    value.len(),
                                )
                            };
                            attribute.ulValueLen = needed;
                        } else {
                            attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                            too_small = true;
                        }
                    }
                }
            }
            if sensitive {
                Err(CKR_ATTRIBUTE_SENSITIVE)
            } else if invalid {
                Err(CKR_ATTRIBUTE_TYPE_INVALID)
            } else if too_small {
                Err(CKR_BUFFER_TOO_SMALL)
            } else {
                Ok(())
            }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GetObjectSize(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pulSize: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_GetObjectSize",
        || format!("hSession={hSession}, hObject={hObject}, pulSize={pulSize:p}"),
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pulSize is NULL or the caller's CK_ULONG.
            let out = unsafe { out_ref(pulSize) }?;
            *out = session.token.visible_object(hObject)?.size() as CK_ULONG;
            Ok(())
        },
    )
}

/// Copy a search template; values are compared byte for byte.
///
/// # Safety
/// `pTemplate` is NULL or holds `ulCount` attributes, each `pValue` NULL or holding
/// `ulValueLen` bytes.
unsafe fn read_template(
    pTemplate: *const CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> Result<Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>, CK_RV> {
    // SAFETY: as this function's contract says.
    let template = unsafe { in_slice(pTemplate, ulCount) }?;
    template
        .iter()
        .map(|a| {
            if to_usize(a.ulValueLen)? > MAX_ALLOCATION {
                return Err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            // SAFETY: each value as this function's contract says.
            let value = unsafe { in_slice(a.pValue as *const u8, a.ulValueLen) }?;
            Ok((a.type_, value.to_vec()))
        })
        .collect()
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    hSession: CK_SESSION_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(
        "C_FindObjectsInit",
        || {
            // SAFETY: pTemplate is NULL or holds ulCount attributes.
            let described = unsafe { describe_template(pTemplate, ulCount) };
            format!("hSession={hSession}, pTemplate={pTemplate:p}, ulCount={ulCount}, {described}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pTemplate holds ulCount attributes with their values (§2.1).
            let template = unsafe { read_template(pTemplate, ulCount) }?;
            session.find_init(&template)
        },
    )
}

/// Attribute types and lengths for the log (values may be long; types tell enough).
///
/// # Safety
/// `pTemplate` is NULL or holds `ulCount` attributes.
unsafe fn describe_template(pTemplate: *const CK_ATTRIBUTE, ulCount: CK_ULONG) -> String {
    // SAFETY: as this function's contract says.
    match unsafe { in_slice(pTemplate, ulCount) } {
        Ok(t) => t
            .iter()
            // By value: CK_ATTRIBUTE is 1-byte packed on Windows.
            .map(|a| format!("{:#x}/{}", { a.type_ }, { a.ulValueLen }))
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<bad template>".into(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    hSession: CK_SESSION_HANDLE,
    phObject: *mut CK_OBJECT_HANDLE,
    ulMaxObjectCount: CK_ULONG,
    pulObjectCount: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_FindObjects",
        || {
            format!("hSession={hSession}, phObject={phObject:p}, ulMaxObjectCount={ulMaxObjectCount}, pulObjectCount={pulObjectCount:p}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pulObjectCount is NULL or the caller's CK_ULONG; phObject holds
            // ulMaxObjectCount handles (§2.1).
            let (count, out) = unsafe {
                (
                    out_ref(pulObjectCount),
                    in_out_slice(phObject, ulMaxObjectCount),
                )
            };
            let (count, out) = (count?, out?);
            let hits = session.find_next(out.len())?;
            out[..hits.len()].copy_from_slice(&hits);
            *count = hits.len() as CK_ULONG;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(
        "C_FindObjectsFinal",
        || format!("hSession={hSession}"),
        |m| m.session(hSession)?.find_final(),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    hSession: CK_SESSION_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
    phObject: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_CreateObject",
        || {
            format!("hSession={hSession}, pTemplate={pTemplate:p}, ulCount={ulCount}, phObject={phObject:p}")
        },
        |m| {
            m.session(hSession)?;
            Err(CKR_FUNCTION_NOT_SUPPORTED)
        },
    )
}

/// Existing objects can be neither changed, copied nor destroyed.
fn refuse_object_write(
    m: &Module,
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
) -> Result<(), CK_RV> {
    let session = m.session(hSession)?;
    session.token.visible_object(hObject)?;
    Err(CKR_ACTION_PROHIBITED)
}

#[no_mangle]
pub unsafe extern "C" fn C_CopyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
    phNewObject: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_CopyObject",
        || {
            format!("hSession={hSession}, hObject={hObject}, pTemplate={pTemplate:p}, ulCount={ulCount}, phNewObject={phNewObject:p}")
        },
        |m| refuse_object_write(m, hSession, hObject),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_DestroyObject",
        || format!("hSession={hSession}, hObject={hObject}"),
        |m| refuse_object_write(m, hSession, hObject),
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(
        "C_SetAttributeValue",
        || {
            format!("hSession={hSession}, hObject={hObject}, pTemplate={pTemplate:p}, ulCount={ulCount}")
        },
        |m| refuse_object_write(m, hSession, hObject),
    )
}
