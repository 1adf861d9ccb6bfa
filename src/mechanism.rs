//! Signature mechanisms: which exist for which keys, their parameters, hashing in the
//! module and the input each one sends to the card.

use crate::card::profile::FamilyProfile;
use crate::card::{HashAlg, SignAlgorithm};
use crate::object::{KeyKind, SigningKey};
use cryptoki_sys::*;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// What a signature mechanism does before the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignKind {
    /// CKM_RSA_PKCS: input (≤ k−11 bytes) goes to the card as is.
    RsaPkcsRaw,
    /// CKM_SHA*_RSA_PKCS: hash, wrap in DigestInfo, PKCS#1 v1.5 by the card.
    RsaPkcsHash(HashAlg),
    /// CKM_RSA_PKCS_PSS: input is the hash named in the parameters.
    RsaPssRaw(HashAlg),
    /// CKM_SHA*_RSA_PKCS_PSS.
    RsaPssHash(HashAlg),
    /// CKM_ECDSA: input is a hash (or any value; truncated to the order length).
    EcdsaRaw,
    /// CKM_ECDSA_SHA*.
    EcdsaHash(HashAlg),
}

impl SignKind {
    pub fn key_kind(self) -> KeyKind {
        match self {
            SignKind::EcdsaRaw | SignKind::EcdsaHash(_) => KeyKind::Ec,
            _ => KeyKind::Rsa,
        }
    }

    /// The hash computed by the module, if the mechanism hashes (multi-part capable).
    pub fn module_hash(self) -> Option<HashAlg> {
        match self {
            SignKind::RsaPkcsHash(h) | SignKind::RsaPssHash(h) | SignKind::EcdsaHash(h) => Some(h),
            _ => None,
        }
    }

    pub fn card_algorithm(self) -> SignAlgorithm {
        match self {
            SignKind::RsaPkcsRaw | SignKind::RsaPkcsHash(_) => SignAlgorithm::RsaPkcs1,
            SignKind::RsaPssRaw(h) | SignKind::RsaPssHash(h) => SignAlgorithm::RsaPss(h),
            SignKind::EcdsaRaw | SignKind::EcdsaHash(_) => SignAlgorithm::Ecdsa,
        }
    }
}

pub fn hash_len(h: HashAlg) -> usize {
    match h {
        HashAlg::Sha1 => 20,
        HashAlg::Sha224 => 28,
        HashAlg::Sha256 => 32,
        HashAlg::Sha384 => 48,
        HashAlg::Sha512 => 64,
    }
}

fn hash_mechanism(h: HashAlg) -> CK_MECHANISM_TYPE {
    match h {
        HashAlg::Sha1 => CKM_SHA_1,
        HashAlg::Sha224 => CKM_SHA224,
        HashAlg::Sha256 => CKM_SHA256,
        HashAlg::Sha384 => CKM_SHA384,
        HashAlg::Sha512 => CKM_SHA512,
    }
}

fn mgf(h: HashAlg) -> CK_RSA_PKCS_MGF_TYPE {
    match h {
        HashAlg::Sha1 => CKG_MGF1_SHA1,
        HashAlg::Sha224 => CKG_MGF1_SHA224,
        HashAlg::Sha256 => CKG_MGF1_SHA256,
        HashAlg::Sha384 => CKG_MGF1_SHA384,
        HashAlg::Sha512 => CKG_MGF1_SHA512,
    }
}

fn hash_from_mechanism(m: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ]
    .into_iter()
    .find(|h| hash_mechanism(*h) == m)
}

const ALL_HASHES: [HashAlg; 5] = [
    HashAlg::Sha1,
    HashAlg::Sha224,
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
];

/// Mechanisms without parameters, and PSS whose parameters are checked separately.
fn base_kind(m: CK_MECHANISM_TYPE) -> Option<SignKind> {
    Some(match m {
        CKM_RSA_PKCS => SignKind::RsaPkcsRaw,
        CKM_SHA1_RSA_PKCS => SignKind::RsaPkcsHash(HashAlg::Sha1),
        CKM_SHA224_RSA_PKCS => SignKind::RsaPkcsHash(HashAlg::Sha224),
        CKM_SHA256_RSA_PKCS => SignKind::RsaPkcsHash(HashAlg::Sha256),
        CKM_SHA384_RSA_PKCS => SignKind::RsaPkcsHash(HashAlg::Sha384),
        CKM_SHA512_RSA_PKCS => SignKind::RsaPkcsHash(HashAlg::Sha512),
        // Hash unknown until the parameters are read.
        CKM_RSA_PKCS_PSS => SignKind::RsaPssRaw(HashAlg::Sha256),
        CKM_SHA1_RSA_PKCS_PSS => SignKind::RsaPssHash(HashAlg::Sha1),
        CKM_SHA224_RSA_PKCS_PSS => SignKind::RsaPssHash(HashAlg::Sha224),
        CKM_SHA256_RSA_PKCS_PSS => SignKind::RsaPssHash(HashAlg::Sha256),
        CKM_SHA384_RSA_PKCS_PSS => SignKind::RsaPssHash(HashAlg::Sha384),
        CKM_SHA512_RSA_PKCS_PSS => SignKind::RsaPssHash(HashAlg::Sha512),
        CKM_ECDSA => SignKind::EcdsaRaw,
        CKM_ECDSA_SHA1 => SignKind::EcdsaHash(HashAlg::Sha1),
        CKM_ECDSA_SHA224 => SignKind::EcdsaHash(HashAlg::Sha224),
        CKM_ECDSA_SHA256 => SignKind::EcdsaHash(HashAlg::Sha256),
        CKM_ECDSA_SHA384 => SignKind::EcdsaHash(HashAlg::Sha384),
        CKM_ECDSA_SHA512 => SignKind::EcdsaHash(HashAlg::Sha512),
        _ => return None,
    })
}

/// PSS parameters as passed by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PssParams {
    pub hash_alg: CK_MECHANISM_TYPE,
    pub mgf: CK_RSA_PKCS_MGF_TYPE,
    pub salt_len: CK_ULONG,
}

/// Resolve a mechanism for signing. `pss` is Some when the application passed a
/// parameter block of the size of CK_RSA_PKCS_PSS_PARAMS; `has_params` says whether
/// it passed any parameter at all.
pub fn sign_kind(
    m: CK_MECHANISM_TYPE,
    has_params: bool,
    pss: Option<PssParams>,
) -> Result<SignKind, CK_RV> {
    let kind = base_kind(m).ok_or(CKR_MECHANISM_INVALID)?;
    match kind {
        SignKind::RsaPssRaw(_) | SignKind::RsaPssHash(_) => {
            let p = pss.ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            let h = hash_from_mechanism(p.hash_alg).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            if let SignKind::RsaPssHash(mech_hash) = kind {
                if mech_hash != h {
                    return Err(CKR_MECHANISM_PARAM_INVALID);
                }
            }
            // The card supports exactly MGF1 with the same hash and sLen = hLen.
            if p.mgf != mgf(h) || p.salt_len as usize != hash_len(h) {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            Ok(match kind {
                SignKind::RsaPssRaw(_) => SignKind::RsaPssRaw(h),
                _ => SignKind::RsaPssHash(h),
            })
        }
        _ if has_params => Err(CKR_MECHANISM_PARAM_INVALID),
        _ => Ok(kind),
    }
}

/// Running hash for multi-part signing.
#[derive(Clone)]
pub enum Hasher {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(h: HashAlg) -> Hasher {
        match h {
            HashAlg::Sha1 => Hasher::Sha1(Sha1::new()),
            HashAlg::Sha224 => Hasher::Sha224(Sha224::new()),
            HashAlg::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(d) => d.update(data),
            Hasher::Sha224(d) => d.update(data),
            Hasher::Sha256(d) => d.update(data),
            Hasher::Sha384(d) => d.update(data),
            Hasher::Sha512(d) => d.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(d) => d.finalize().to_vec(),
            Hasher::Sha224(d) => d.finalize().to_vec(),
            Hasher::Sha256(d) => d.finalize().to_vec(),
            Hasher::Sha384(d) => d.finalize().to_vec(),
            Hasher::Sha512(d) => d.finalize().to_vec(),
        }
    }
}

pub fn digest(h: HashAlg, data: &[u8]) -> Vec<u8> {
    let mut hasher = Hasher::new(h);
    hasher.update(data);
    hasher.finish()
}

/// DER prefix of DigestInfo { AlgorithmIdentifier(hash, NULL), OCTET STRING hash } (RFC 8017 §9.2).
fn digest_info_prefix(h: HashAlg) -> &'static [u8] {
    match h {
        HashAlg::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        HashAlg::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlg::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlg::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

pub fn digest_info(h: HashAlg, hash: &[u8]) -> Vec<u8> {
    let mut out = digest_info_prefix(h).to_vec();
    out.extend_from_slice(hash);
    out
}

/// Largest input the card takes for ECDSA (profile: 1..64 bytes).
const ECDSA_MAX_INPUT: usize = 64;

/// The PSO input for a complete message (single-part) or a finished hash
/// (`hashed` = Some for hashing mechanisms), for a card that takes at most
/// `max_command_data` bytes in one command. Checks lengths before any card I/O: the
/// mechanism's limits, and the card's (AKIS v1.0: 244 bytes, below k − 11 for raw
/// PKCS#1 input; 255 without extended length, below k − 11 for RSA-3072).
pub fn card_input(
    kind: SignKind,
    key: &SigningKey,
    data: &[u8],
    hashed: Option<Vec<u8>>,
    max_command_data: usize,
) -> Result<Vec<u8>, CK_RV> {
    let input = mechanism_input(kind, key, data, hashed)?;
    if input.len() > max_command_data {
        return Err(CKR_DATA_LEN_RANGE);
    }
    Ok(input)
}

fn mechanism_input(
    kind: SignKind,
    key: &SigningKey,
    data: &[u8],
    hashed: Option<Vec<u8>>,
) -> Result<Vec<u8>, CK_RV> {
    let hash = match (kind.module_hash(), hashed) {
        (Some(_), Some(h)) => Some(h),
        (Some(alg), None) => Some(digest(alg, data)),
        (None, _) => None,
    };
    match kind {
        SignKind::RsaPkcsRaw => {
            if data.is_empty() || data.len() + 11 > key.signature_len {
                return Err(CKR_DATA_LEN_RANGE);
            }
            Ok(data.to_vec())
        }
        SignKind::RsaPkcsHash(h) => Ok(digest_info(h, &hash.unwrap_or_default())),
        SignKind::RsaPssRaw(h) => {
            if data.len() != hash_len(h) {
                return Err(CKR_DATA_LEN_RANGE);
            }
            Ok(data.to_vec())
        }
        SignKind::RsaPssHash(_) | SignKind::EcdsaHash(_) => Ok(hash.unwrap_or_default()),
        SignKind::EcdsaRaw => {
            let field = key.signature_len / 2;
            if data.is_empty() {
                return Err(CKR_DATA_LEN_RANGE);
            }
            // X9.62 keeps the leftmost order-length bits; for P-256/P-384 that is
            // whole bytes. P-521 (66-byte field) cannot be truncated bytewise above 64.
            let keep = data.len().min(field);
            if keep > ECDSA_MAX_INPUT {
                return Err(CKR_DATA_LEN_RANGE);
            }
            Ok(data[..keep].to_vec())
        }
    }
}

/// Whether a token of this card family offers the mechanism (AKIS v1.0 has RSA
/// PKCS#1 v1.5 only, pkcs11-spec.md §1.4.1); unknown mechanisms are not offered.
pub fn offered(m: CK_MECHANISM_TYPE, family: &FamilyProfile) -> bool {
    base_kind(m).is_some_and(|kind| family.signs(kind.card_algorithm()))
}

/// Mechanisms offered for the key kinds present on a token of this card family.
pub fn mechanism_list(
    has_rsa: bool,
    has_ec: bool,
    family: &FamilyProfile,
) -> Vec<CK_MECHANISM_TYPE> {
    let mut list = Vec::new();
    if has_rsa {
        list.extend([
            CKM_RSA_PKCS,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
        ]);
        if family.signs(SignAlgorithm::RsaPss(HashAlg::Sha256)) {
            list.extend([
                CKM_RSA_PKCS_PSS,
                CKM_SHA1_RSA_PKCS_PSS,
                CKM_SHA224_RSA_PKCS_PSS,
                CKM_SHA256_RSA_PKCS_PSS,
                CKM_SHA384_RSA_PKCS_PSS,
                CKM_SHA512_RSA_PKCS_PSS,
            ]);
        }
    }
    if has_ec && family.signs(SignAlgorithm::Ecdsa) {
        list.extend([
            CKM_ECDSA,
            CKM_ECDSA_SHA1,
            CKM_ECDSA_SHA224,
            CKM_ECDSA_SHA256,
            CKM_ECDSA_SHA384,
            CKM_ECDSA_SHA512,
        ]);
    }
    list
}

/// Mechanism info for `m` given the key sizes (bits) present of its key kind.
pub fn mechanism_info(
    m: CK_MECHANISM_TYPE,
    rsa_bits: Option<(usize, usize)>,
    ec_bits: Option<(usize, usize)>,
) -> Result<CK_MECHANISM_INFO, CK_RV> {
    let kind = base_kind(m).ok_or(CKR_MECHANISM_INVALID)?;
    let (range, extra) = match kind.key_kind() {
        KeyKind::Rsa => (rsa_bits, 0),
        KeyKind::Ec => (ec_bits, CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS),
    };
    let (min, max) = range.ok_or(CKR_MECHANISM_INVALID)?;
    Ok(CK_MECHANISM_INFO {
        ulMinKeySize: min as CK_ULONG,
        ulMaxKeySize: max as CK_ULONG,
        // Signing on the card; verification in the module (src/verify.rs).
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | extra,
    })
}

/// Every hash the profile knows (for tests and listings).
pub fn all_hashes() -> [HashAlg; 5] {
    ALL_HASHES
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RSA-2048 signing key (the unit tests' usual key).
    pub(crate) fn rsa_key() -> SigningKey {
        SigningKey {
            key_ref: 1,
            kind: KeyKind::Rsa,
            bits: 2048,
            signature_len: 256,
            always_authenticate: false,
            curve: None,
        }
    }

    #[test]
    fn digest_info_prefixes_have_consistent_lengths() {
        for h in all_hashes() {
            let info = digest_info(h, &digest(h, b"abc"));
            // Outer SEQUENCE length byte covers the rest; last prefix byte is the hash length.
            assert_eq!(info[1] as usize, info.len() - 2, "{h:?}");
            assert_eq!(
                digest_info_prefix(h).last().copied(),
                Some(hash_len(h) as u8)
            );
        }
    }

    #[test]
    fn sha256_of_abc() {
        let d = digest(HashAlg::Sha256, b"abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
        let mut h = Hasher::new(HashAlg::Sha256);
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), d);
    }

    #[test]
    fn pss_parameters_are_validated() {
        let good = PssParams {
            hash_alg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            salt_len: 32,
        };
        assert_eq!(
            sign_kind(CKM_SHA256_RSA_PKCS_PSS, true, Some(good)),
            Ok(SignKind::RsaPssHash(HashAlg::Sha256))
        );
        assert_eq!(
            sign_kind(CKM_RSA_PKCS_PSS, true, Some(good)),
            Ok(SignKind::RsaPssRaw(HashAlg::Sha256))
        );
        assert_eq!(
            sign_kind(CKM_SHA384_RSA_PKCS_PSS, true, Some(good)),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
        let bad_mgf = PssParams {
            mgf: CKG_MGF1_SHA1,
            ..good
        };
        assert_eq!(
            sign_kind(CKM_RSA_PKCS_PSS, true, Some(bad_mgf)),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
        let bad_salt = PssParams {
            salt_len: 20,
            ..good
        };
        assert_eq!(
            sign_kind(CKM_RSA_PKCS_PSS, true, Some(bad_salt)),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
        assert_eq!(
            sign_kind(CKM_RSA_PKCS_PSS, false, None),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
        assert_eq!(
            sign_kind(CKM_SHA256_RSA_PKCS, true, None),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
        assert_eq!(
            sign_kind(CKM_MD5_RSA_PKCS, false, None),
            Err(CKR_MECHANISM_INVALID)
        );
    }

    #[test]
    fn input_lengths_are_checked_before_the_card() {
        // The largest command data of a card with extended length (the software
        // card's v2.x ATR), of one without, and of AKIS v1.0 (Profile::max_command_data).
        let v2 = crate::apdu::EXTENDED_MAX_NC;
        let short = crate::apdu::SHORT_MAX_NC;
        let key = rsa_key();
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &key, &[1; 245], None, v2),
            Ok(vec![1; 245])
        );
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &key, &[1; 246], None, v2),
            Err(CKR_DATA_LEN_RANGE)
        );
        assert_eq!(
            card_input(
                SignKind::RsaPssRaw(HashAlg::Sha384),
                &key,
                &[1; 32],
                None,
                v2
            ),
            Err(CKR_DATA_LEN_RANGE)
        );
        let info =
            card_input(SignKind::RsaPkcsHash(HashAlg::Sha1), &key, b"abc", None, v2).unwrap();
        assert_eq!(info.len(), 15 + 20);
        let ec = SigningKey {
            kind: KeyKind::Ec,
            bits: 256,
            signature_len: 64,
            ..key
        };
        assert_eq!(
            card_input(SignKind::EcdsaRaw, &ec, &[7; 64], None, v2),
            Ok(vec![7; 32])
        );
        assert_eq!(
            card_input(SignKind::EcdsaRaw, &ec, &[], None, v2),
            Err(CKR_DATA_LEN_RANGE)
        );
        // AKIS v1.0 takes at most 244 bytes of command data: raw PKCS#1 input up to
        // that, not k − 11 (pkcs11-spec.md §1.4.1).
        let v10 = 244;
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &key, &[1; 244], None, v10),
            Ok(vec![1; 244])
        );
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &key, &[1; 245], None, v10),
            Err(CKR_DATA_LEN_RANGE)
        );
        let info = card_input(
            SignKind::RsaPkcsHash(HashAlg::Sha512),
            &key,
            b"abc",
            None,
            v10,
        );
        assert_eq!(info.map(|i| i.len()), Ok(19 + 64));
        // Without extended length a command carries 255 bytes: RSA-3072 raw PKCS#1
        // input (k − 11 = 373) stops there.
        let rsa3072 = SigningKey {
            bits: 3072,
            signature_len: 384,
            ..rsa_key()
        };
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &rsa3072, &[1; 255], None, short),
            Ok(vec![1; 255])
        );
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &rsa3072, &[1; 256], None, short),
            Err(CKR_DATA_LEN_RANGE)
        );
        assert_eq!(
            card_input(SignKind::RsaPkcsRaw, &rsa3072, &[1; 373], None, v2),
            Ok(vec![1; 373])
        );
    }

    #[test]
    fn mechanism_list_and_info_follow_key_kinds() {
        use crate::card::atr::Family;
        use crate::card::profile::family_profile;
        let v2 = family_profile(Family::AkisV2x);
        assert_eq!(mechanism_list(true, false, v2).len(), 12);
        assert_eq!(mechanism_list(false, true, v2).len(), 6);
        assert!(mechanism_list(false, false, v2).is_empty());
        assert_eq!(
            mechanism_list(true, true, family_profile(Family::AkisV1x)).len(),
            18
        );
        // AKIS v1.0: RSA PKCS#1 v1.5 only (pkcs11-spec.md §1.4.1).
        let v10 = family_profile(Family::AkisV10);
        assert_eq!(
            mechanism_list(true, true, v10),
            [
                CKM_RSA_PKCS,
                CKM_SHA1_RSA_PKCS,
                CKM_SHA224_RSA_PKCS,
                CKM_SHA256_RSA_PKCS,
                CKM_SHA384_RSA_PKCS,
                CKM_SHA512_RSA_PKCS
            ]
        );
        assert!(offered(CKM_SHA256_RSA_PKCS, v10) && offered(CKM_RSA_PKCS, v10));
        for m in [
            CKM_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_ECDSA,
            CKM_ECDSA_SHA384,
        ] {
            assert!(!offered(m, v10) && offered(m, v2), "{m:#x}");
        }
        assert!(
            !offered(CKM_SHA256, v2),
            "a digest is no signature mechanism"
        );
        let info = mechanism_info(CKM_ECDSA, None, Some((256, 384))).unwrap();
        // Fields by value: CK_MECHANISM_INFO is packed on Windows.
        assert_eq!(
            { info.flags },
            CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS
        );
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (256, 384));
        assert_eq!(
            mechanism_info(CKM_ECDSA, Some((2048, 2048)), None).err(),
            Some(CKR_MECHANISM_INVALID)
        );
        let rsa = mechanism_info(CKM_SHA256_RSA_PKCS, Some((2048, 3072)), None).unwrap();
        assert_eq!({ rsa.flags }, CKF_HW | CKF_SIGN | CKF_VERIFY);
    }
}
