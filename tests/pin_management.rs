//! PIN management (issue 4), table-driven through the C ABI: every flow and every
//! failure of C_Login, C_Logout, C_InitPIN and C_SetPIN on software cards in process.
//! After each call a scenario checks the return value, the APDUs the module sent (the
//! debug log at trace level shows each command as a line "> ..."; PIN data redacted),
//! the card's own retry counters (read from the card file, which the software card
//! writes before it answers), the token's PIN flags and the login state.
//!
//! Every table runs twice: on an AKIS v2.x software card (P-256 key, ECDSA) and on an
//! AKIS v1.0 one (RSA-2048, PKCS#1 v1.5), whose card answers only the v1.0 command
//! forms (pkcs11-spec.md §1.4.1). On v1.0 the module asks no retry counter at bind, so
//! a counter's token flags appear only once a PIN command for it was answered (the
//! §2.7 rule: success, `63Cx` or blocked), and an RSA-2048 signature costs one more
//! APDU (GET RESPONSE after the first 244 bytes).

mod p11;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use p11::*;
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::OnceLock;
use virtual_card::{store, CardStatus};

const PIN: &str = "123456";
const PUK: &str = "12345678";
const PIN_REF: u8 = 0x81;
const PUK_REF: u8 = 0x82;

// ---------------------------------------------------------------------------------------
// The table's vocabulary

/// A PIN argument as the application passes it.
#[derive(Clone, Copy)]
enum Arg {
    /// These bytes (a non-NULL pointer, also when empty).
    Bytes(&'static [u8]),
    /// This many '1' digits (for the module's absolute length limit).
    Ones(usize),
    /// pPin NULL with this ulPinLen.
    Null(CK_ULONG),
}

impl std::fmt::Debug for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Bytes(bytes) => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
            Arg::Ones(n) => write!(f, "{n} digits"),
            Arg::Null(len) => write!(f, "NULL/{len}"),
        }
    }
}

const fn b(text: &'static str) -> Arg {
    Arg::Bytes(text.as_bytes())
}

/// Which of the scenario's two sessions a call uses (NSS keeps an RO one open).
#[derive(Clone, Copy, Debug)]
enum On {
    Ro,
    Rw,
}

#[derive(Clone, Copy, Debug)]
enum Call {
    Login(CK_USER_TYPE, Arg),
    Logout,
    InitPin(Arg),
    SetPin(Arg, Arg),
    /// C_SignInit(CKM_ECDSA) with the card's first private key.
    SignInit,
    /// C_Sign of a 32-byte hash into a 64-byte buffer.
    Sign,
}

use Call::*;
use On::*;

const USER: CK_USER_TYPE = CKU_USER;
const SO: CK_USER_TYPE = CKU_SO;
const CONTEXT: CK_USER_TYPE = CKU_CONTEXT_SPECIFIC;

const PUBLIC: CK_STATE = CKS_RW_PUBLIC_SESSION;
const USER_FN: CK_STATE = CKS_RW_USER_FUNCTIONS;
const SO_FN: CK_STATE = CKS_RW_SO_FUNCTIONS;

/// One call and everything expected right after it.
#[derive(Debug)]
struct Step {
    on: On,
    call: Call,
    rv: CK_RV,
    /// (APDUs sent by this call, of which PIN-carrying).
    sent: (usize, usize),
    /// The card's counters after the call: (PIN tries left of 3, PUK tries left of 10).
    tries: (u8, u8),
    /// State of the RW session after the call (login is per token).
    state: CK_STATE,
}

/// A table row: `s(session, call, result, (APDUs, PIN-carrying), (PIN, PUK tries), state)`.
fn s(
    on: On,
    call: Call,
    rv: CK_RV,
    sent: (usize, usize),
    tries: (u8, u8),
    state: CK_STATE,
) -> Step {
    Step {
        on,
        call,
        rv,
        sent,
        tries,
        state,
    }
}

struct Scenario {
    name: &'static str,
    /// Counters the card starts with (PIN, PUK).
    start: (u8, u8),
    /// Keys with userConsent (always-authenticate).
    user_consent: bool,
    steps: Vec<Step>,
    /// The values stored on the card at the end (PIN, PUK).
    end_values: (&'static str, &'static str),
}

// ---------------------------------------------------------------------------------------
// The two card families every table runs on

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// AKIS v2.x software card, one P-256 key (fast to make), ECDSA.
    V2,
    /// AKIS v1.0 software card, one RSA-2048 key, RSA PKCS#1 v1.5.
    V10,
}

const VARIANTS: [Variant; 2] = [Variant::V2, Variant::V10];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::V2 => "v2",
            Variant::V10 => "v1.0",
        }
    }

    /// `eimza-vcard create` arguments.
    fn card_args(self) -> &'static [&'static str] {
        match self {
            Variant::V2 => &["--key", "p256"],
            Variant::V10 => &["--family", "v1.0", "--key", "rsa2048"],
        }
    }

    fn mechanism(self) -> CK_MECHANISM_TYPE {
        match self {
            Variant::V2 => CKM_ECDSA,
            Variant::V10 => CKM_RSA_PKCS,
        }
    }

    fn signature_len(self) -> usize {
        match self {
            Variant::V2 => 64,
            Variant::V10 => 256,
        }
    }

    /// The module reads the counters at bind (VERIFY without data).
    fn counters_at_bind(self) -> bool {
        self == Variant::V2
    }

    /// APDUs a step sends on this family, from the table's (v2.x) count: a signature
    /// the card made is 244 + 12 bytes on v1.0, one GET RESPONSE more.
    fn sent(self, step: &Step) -> (usize, usize) {
        match (self, step.call) {
            (Variant::V10, Sign) if step.rv == CKR_OK => (step.sent.0 + 1, step.sent.1),
            _ => step.sent,
        }
    }
}

/// Which counters the token knows: (user PIN, PUK).
type Known = (bool, bool);

/// The §2.7 rule: after a PIN-carrying command the token holds the counter the card
/// reported (success, `63Cx`, blocked); any other answer leaves it as it was. RESET
/// RETRY COUNTER sets the PIN's counter when it succeeds; with the PUK in the command it
/// reports the PUK's counter too.
fn learn(known: &mut Known, sent: &[String], rv: CK_RV) {
    let reported = matches!(rv, CKR_OK | CKR_PIN_INCORRECT | CKR_PIN_LOCKED);
    for apdu in sent.iter().filter(|a| is_pin_carrying(a)) {
        let header: Vec<&str> = apdu.split_whitespace().take(4).collect();
        match header.as_slice() {
            ["00", "20", "00", "81"] | ["00", "24", "00", "81"] | ["00", "24", "02", "01"] => {
                known.0 |= reported
            }
            ["00", "20", "00", "82"] | ["00", "24", "00", "82"] | ["00", "24", "02", "02"] => {
                known.1 |= reported
            }
            ["00", "2C", "00", "81"] => {
                known.1 |= reported;
                known.0 |= rv == CKR_OK;
            }
            ["00", "2C", "02", "81"] => known.0 |= rv == CKR_OK,
            other => panic!("a PIN-carrying command the table does not know: {other:?}"),
        }
    }
}

/// The token flags of the counters the token knows.
fn known_flags(flags: CK_FLAGS, (pin, puk): Known) -> CK_FLAGS {
    let user = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
    let so = CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED;
    flags & (if pin { user } else { 0 } | if puk { so } else { 0 })
}

// ---------------------------------------------------------------------------------------
// Cards, trace log, raw calls

/// The variant's card; each scenario works on a copy.
fn base_card(user_consent: bool, variant: Variant) -> &'static Path {
    static CARDS: [OnceLock<PathBuf>; 4] = [const { OnceLock::new() }; 4];
    let index = usize::from(user_consent) * 2 + usize::from(variant == Variant::V10);
    CARDS[index].get_or_init(|| {
        let serial = format!("0D0D0D0D0D0D0D{:02X}", 0x0D + index);
        let mut args = variant.card_args().to_vec();
        args.extend(["--serial", &serial]);
        if user_consent {
            args.push("--user-consent");
        }
        let name = format!(
            "pin-base-{}{}",
            variant.name(),
            if user_consent { "-consent" } else { "" }
        );
        make_card(&name, &args)
    })
}

/// A copy of the base card with the given counters (written into the card file as a
/// card would hold them).
fn fresh_card(name: &str, user_consent: bool, variant: Variant, (pin, puk): (u8, u8)) -> PathBuf {
    let base = base_card(user_consent, variant);
    let path = base.with_file_name(format!("pin-{name}-{}.card", variant.name()));
    std::fs::copy(base, &path).expect("copy card");
    let mut image = store::load(&path).expect("load card");
    for record in image.pins.iter_mut() {
        record.tries_left = if record.reference == PIN_REF {
            pin
        } else {
            puk
        };
    }
    store::save(&path, &image).expect("save card");
    path
}

/// (PIN tries left, PUK tries left) as the card file holds them.
fn card_counters(path: &Path) -> (u8, u8) {
    let status = CardStatus::of_image(&store::load(path).expect("load card"));
    let pin = status.pin.expect("card has a PIN");
    let puk = status.puk.expect("card has a PUK");
    assert_eq!((pin.max_tries, puk.max_tries), (3, 10));
    (pin.tries_left, puk.tries_left)
}

fn card_value(path: &Path, reference: u8) -> Vec<u8> {
    let image = store::load(path).expect("load card");
    let record = image.pins.iter().find(|p| p.reference == reference);
    record.expect("PIN record").value.to_vec()
}

/// The module's debug log at trace level, shared by every test of this binary (the
/// module reads EIMZA_PKCS11_LOG once, at the first C_Initialize of the process).
fn trace_log() -> &'static Path {
    static LOG: OnceLock<PathBuf> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = target_dir().join("pin-management-trace.log");
        let _ = std::fs::remove_file(&path);
        std::env::set_var("EIMZA_PKCS11_LOG", &path);
        std::env::set_var("EIMZA_PKCS11_LOG_LEVEL", "trace");
        path
    })
}

fn log_len() -> u64 {
    std::fs::metadata(trace_log()).map(|m| m.len()).unwrap_or(0)
}

/// Command APDUs logged after `mark` (lines "...: > 00 20 00 81 [...]").
fn commands_since(mark: u64) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(trace_log()) else {
        return Vec::new();
    };
    file.seek(std::io::SeekFrom::Start(mark)).expect("seek log");
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.split_once(": > ").map(|(_, apdu)| apdu.to_string()))
        .collect()
}

/// PIN-carrying commands are logged with their data redacted (VERIFY, CHANGE
/// REFERENCE DATA, RESET RETRY COUNTER with data).
fn is_pin_carrying(apdu: &str) -> bool {
    apdu.ends_with("bytes of PIN data redacted]")
}

/// Start the module on one card; the software card's slot.
fn start(card: &Path) -> CK_SLOT_ID {
    trace_log();
    std::env::set_var("EIMZA_VIRTUAL_CARD", card);
    assert_eq!(initialize(), CKR_OK);
    let f = functions();
    let mut slots = vec![0; 16];
    let mut count = slots.len() as CK_ULONG;
    assert_eq!(
        unsafe { (f.C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    slots.truncate(count as usize);
    // PC/SC readers (if a pcscd runs) are hardware slots; the software card is not.
    *slots
        .iter()
        .find(|&&slot| {
            let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
            let rv = unsafe { (f.C_GetSlotInfo.unwrap())(slot, &mut info) };
            rv == CKR_OK && info.flags & CKF_HW_SLOT == 0
        })
        .expect("the software card's slot")
}

fn open_session(slot: CK_SLOT_ID, rw: bool) -> CK_SESSION_HANDLE {
    let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
    let mut handle = 0;
    let rv =
        unsafe { (functions().C_OpenSession.unwrap())(slot, flags, null_mut(), None, &mut handle) };
    assert_eq!(rv, CKR_OK);
    handle
}

fn token_flags(slot: CK_SLOT_ID) -> CK_FLAGS {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (functions().C_GetTokenInfo.unwrap())(slot, &mut info) },
        CKR_OK
    );
    info.flags
}

fn session_state(session: CK_SESSION_HANDLE) -> CK_STATE {
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (functions().C_GetSessionInfo.unwrap())(session, &mut info) },
        CKR_OK
    );
    info.state
}

const PIN_FLAGS: CK_FLAGS = CKF_USER_PIN_COUNT_LOW
    | CKF_USER_PIN_FINAL_TRY
    | CKF_USER_PIN_LOCKED
    | CKF_SO_PIN_COUNT_LOW
    | CKF_SO_PIN_FINAL_TRY
    | CKF_SO_PIN_LOCKED;

/// PKCS#11 §3.2 (CK_TOKEN_INFO): count low after a wrong value since the last success,
/// final try with one left, locked with none.
fn expected_flags((pin, puk): (u8, u8)) -> CK_FLAGS {
    let one =
        |left: u8, max: u8, (low, final_try, locked): (CK_FLAGS, CK_FLAGS, CK_FLAGS)| match left {
            0 => locked,
            1 => low | final_try,
            n if n < max => low,
            _ => 0,
        };
    one(
        pin,
        3,
        (
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        ),
    ) | one(
        puk,
        10,
        (
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        ),
    )
}

/// Owns the bytes an [`Arg`] points at for the duration of a call.
struct ArgBuf(Option<Vec<u8>>, CK_ULONG);

impl ArgBuf {
    fn new(arg: Arg) -> ArgBuf {
        match arg {
            Arg::Bytes(bytes) => ArgBuf(Some(bytes.to_vec()), bytes.len() as CK_ULONG),
            Arg::Ones(n) => ArgBuf(Some(vec![b'1'; n]), n as CK_ULONG),
            Arg::Null(len) => ArgBuf(None, len),
        }
    }

    /// Non-NULL even for an empty value (a Vec's empty pointer is dangling, not NULL).
    fn ptr(&mut self) -> *mut CK_UTF8CHAR {
        match &mut self.0 {
            Some(bytes) => bytes.as_mut_ptr(),
            None => null_mut(),
        }
    }
}

fn first_private_key(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let class = CKO_PRIVATE_KEY.to_ne_bytes().to_vec();
    let keys = raw_find(session, &[(CKA_CLASS, class)]);
    *keys.first().expect("a private key")
}

/// `key`: the private key's handle, found on first use (while logged in) and kept, so a
/// later C_SignInit can show what happens to it after a logout.
fn perform(
    call: Call,
    session: CK_SESSION_HANDLE,
    key: &mut Option<CK_OBJECT_HANDLE>,
    variant: Variant,
) -> CK_RV {
    let f = functions();
    unsafe {
        match call {
            Login(user, pin) => {
                let mut pin = ArgBuf::new(pin);
                (f.C_Login.unwrap())(session, user, pin.ptr(), pin.1)
            }
            Logout => (f.C_Logout.unwrap())(session),
            InitPin(pin) => {
                let mut pin = ArgBuf::new(pin);
                (f.C_InitPIN.unwrap())(session, pin.ptr(), pin.1)
            }
            SetPin(old, new) => {
                let (mut old, mut new) = (ArgBuf::new(old), ArgBuf::new(new));
                (f.C_SetPIN.unwrap())(session, old.ptr(), old.1, new.ptr(), new.1)
            }
            SignInit => {
                let key = *key.get_or_insert_with(|| first_private_key(session));
                let mut mechanism = CK_MECHANISM {
                    mechanism: variant.mechanism(),
                    pParameter: null_mut(),
                    ulParameterLen: 0,
                };
                (f.C_SignInit.unwrap())(session, &mut mechanism, key)
            }
            Sign => {
                let mut hash = [0x5Au8; 32];
                let mut signature = vec![0u8; variant.signature_len()];
                let mut len = signature.len() as CK_ULONG;
                (f.C_Sign.unwrap())(
                    session,
                    hash.as_mut_ptr(),
                    hash.len() as CK_ULONG,
                    signature.as_mut_ptr(),
                    &mut len,
                )
            }
        }
    }
}

/// Runs a scenario on a fresh card of the variant; returns "call: APDUs" lines.
fn run(scenario: &Scenario, variant: Variant) -> Vec<String> {
    let card = fresh_card(
        scenario.name,
        scenario.user_consent,
        variant,
        scenario.start,
    );
    let slot = start(&card);
    let ro = open_session(slot, false);
    let rw = open_session(slot, true);
    let mut measured = Vec::new();
    let mut key = None;
    let mut known = (variant.counters_at_bind(), variant.counters_at_bind());
    assert_eq!(
        token_flags(slot) & PIN_FLAGS,
        known_flags(expected_flags(scenario.start), known),
        "{} ({}): flags at the start",
        scenario.name,
        variant.name()
    );
    for (index, step) in scenario.steps.iter().enumerate() {
        let what = format!(
            "{} ({}) step {}: {:?} on {:?}",
            scenario.name,
            variant.name(),
            index + 1,
            step.call,
            step.on
        );
        let session = match step.on {
            Ro => ro,
            Rw => rw,
        };
        let mark = log_len();
        let rv = perform(step.call, session, &mut key, variant);
        let sent = commands_since(mark);
        assert_eq!(
            rv, step.rv,
            "{what}: return value {rv:#x}, expected {:#x}",
            step.rv
        );
        let pin_carrying = sent.iter().filter(|a| is_pin_carrying(a)).count();
        assert_eq!(
            (sent.len(), pin_carrying),
            variant.sent(step),
            "{what}: (APDUs, PIN-carrying) sent: {sent:#?}"
        );
        assert_eq!(card_counters(&card), step.tries, "{what}: card counters");
        learn(&mut known, &sent, rv);
        let flags = token_flags(slot);
        assert_eq!(
            flags & PIN_FLAGS,
            known_flags(expected_flags(step.tries), known),
            "{what}: token flags {flags:#x}"
        );
        // The PIN is personalised by the issuer: always initialised, even when blocked.
        assert_ne!(flags & CKF_USER_PIN_INITIALIZED, 0, "{what}");
        assert_eq!(session_state(rw), step.state, "{what}: session state");
        measured.push(format!("{what} -> {rv:#x}: {}", sent.join(" | ")));
    }
    assert_eq!(finalize(), CKR_OK);
    let (pin, puk) = scenario.end_values;
    assert_eq!(
        card_value(&card, PIN_REF),
        pin.as_bytes(),
        "{}: PIN on the card",
        scenario.name
    );
    assert_eq!(
        card_value(&card, PUK_REF),
        puk.as_bytes(),
        "{}: PUK on the card",
        scenario.name
    );
    measured
}

fn run_all(scenarios: &[Scenario]) {
    let _guard = serial();
    for variant in VARIANTS {
        for scenario in scenarios {
            for line in run(scenario, variant) {
                println!("{line}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tables

const OK: CK_RV = CKR_OK;
const INCORRECT: CK_RV = CKR_PIN_INCORRECT;
const LOCKED: CK_RV = CKR_PIN_LOCKED;
const LEN_RANGE: CK_RV = CKR_PIN_LEN_RANGE;
const INVALID: CK_RV = CKR_PIN_INVALID;
const BAD: CK_RV = CKR_ARGUMENTS_BAD;
/// No APDU at all.
const NONE: (usize, usize) = (0, 0);
/// Exactly one APDU, and it carries the PIN.
const ONE_PIN: (usize, usize) = (1, 1);

#[test]
fn change_pin_logged_in_or_not() {
    run_all(&[Scenario {
        name: "change",
        start: (3, 10),
        user_consent: false,
        steps: vec![
            s(
                Ro,
                SetPin(b(PIN), b("654321")),
                CKR_SESSION_READ_ONLY,
                NONE,
                (3, 10),
                PUBLIC,
            ),
            // Not logged in, right old PIN: CHANGE REFERENCE DATA 81.
            s(
                Rw,
                SetPin(b(PIN), b("654321")),
                OK,
                ONE_PIN,
                (3, 10),
                PUBLIC,
            ),
            // Wrong old PIN: one PIN try, as the user asked for a PIN change.
            s(
                Rw,
                SetPin(b(PIN), b("111111")),
                INCORRECT,
                ONE_PIN,
                (2, 10),
                PUBLIC,
            ),
            s(Ro, Login(USER, b(PIN)), INCORRECT, ONE_PIN, (1, 10), PUBLIC),
            // A good login resets the counter.
            s(Ro, Login(USER, b("654321")), OK, ONE_PIN, (3, 10), USER_FN),
            s(
                Rw,
                Login(USER, b("654321")),
                CKR_USER_ALREADY_LOGGED_IN,
                NONE,
                (3, 10),
                USER_FN,
            ),
            s(
                Rw,
                Login(SO, b(PUK)),
                CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                NONE,
                (3, 10),
                USER_FN,
            ),
            s(
                Ro,
                SetPin(b("654321"), b(PIN)),
                CKR_SESSION_READ_ONLY,
                NONE,
                (3, 10),
                USER_FN,
            ),
            // Logged in (Firefox: login, then C_SetPIN in an RW session).
            s(
                Rw,
                SetPin(b("654321"), b(PIN)),
                OK,
                ONE_PIN,
                (3, 10),
                USER_FN,
            ),
            // Logged in, an 8-digit old value is never taken for the PUK.
            s(
                Rw,
                SetPin(b(PUK), b("222222")),
                LEN_RANGE,
                NONE,
                (3, 10),
                USER_FN,
            ),
            // A failed change clears the PIN's security status on the card (Part 1):
            // the token is logged out with it.
            s(
                Rw,
                SetPin(b("000000"), b("222222")),
                INCORRECT,
                ONE_PIN,
                (2, 10),
                PUBLIC,
            ),
            s(Rw, Logout, CKR_USER_NOT_LOGGED_IN, NONE, (2, 10), PUBLIC),
            s(Rw, Login(USER, b(PIN)), OK, ONE_PIN, (3, 10), USER_FN),
            // LOGOUT: one APDU, no PIN.
            s(Ro, Logout, OK, (1, 0), (3, 10), PUBLIC),
            // Any other user type.
            s(
                Rw,
                Login(5, b(PIN)),
                CKR_USER_TYPE_INVALID,
                NONE,
                (3, 10),
                PUBLIC,
            ),
        ],
        end_values: (PIN, PUK),
    }]);
}

#[test]
fn block_the_pin_then_unblock_with_so_login_and_init_pin() {
    run_all(&[Scenario {
        name: "block-unblock",
        start: (3, 10),
        user_consent: false,
        steps: vec![
            s(
                Ro,
                Login(USER, b("000000")),
                INCORRECT,
                ONE_PIN,
                (2, 10),
                PUBLIC,
            ),
            s(
                Ro,
                Login(USER, b("000000")),
                INCORRECT,
                ONE_PIN,
                (1, 10),
                PUBLIC,
            ),
            // 63C0: this try blocked it, still CKR_PIN_INCORRECT.
            s(
                Ro,
                Login(USER, b("000000")),
                INCORRECT,
                ONE_PIN,
                (0, 10),
                PUBLIC,
            ),
            // Blocked: the card answers 6983 and spends nothing.
            s(Ro, Login(USER, b(PIN)), LOCKED, ONE_PIN, (0, 10), PUBLIC),
            // A PIN-shaped old value is a PIN change, refused by the blocked card for free.
            s(
                Rw,
                SetPin(b(PIN), b("654321")),
                LOCKED,
                ONE_PIN,
                (0, 10),
                PUBLIC,
            ),
            s(
                Rw,
                InitPin(b("111111")),
                CKR_USER_NOT_LOGGED_IN,
                NONE,
                (0, 10),
                PUBLIC,
            ),
            s(
                Rw,
                Login(SO, b("00000000")),
                INCORRECT,
                ONE_PIN,
                (0, 9),
                PUBLIC,
            ),
            // SO login with an RO session open (NSS always keeps one).
            s(Rw, Login(SO, b(PUK)), OK, ONE_PIN, (0, 10), SO_FN),
            s(
                Rw,
                Login(USER, b(PIN)),
                CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                NONE,
                (0, 10),
                SO_FN,
            ),
            s(
                Rw,
                Login(SO, b(PUK)),
                CKR_USER_ALREADY_LOGGED_IN,
                NONE,
                (0, 10),
                SO_FN,
            ),
            s(
                Ro,
                InitPin(b("111111")),
                CKR_SESSION_READ_ONLY,
                NONE,
                (0, 10),
                SO_FN,
            ),
            s(Rw, InitPin(b("11111")), LEN_RANGE, NONE, (0, 10), SO_FN),
            s(Rw, InitPin(b("11111a")), INVALID, NONE, (0, 10), SO_FN),
            s(Rw, InitPin(Arg::Null(6)), BAD, NONE, (0, 10), SO_FN),
            // RESET RETRY COUNTER 02 81 with the new PIN only.
            s(Rw, InitPin(b("111111")), OK, ONE_PIN, (3, 10), SO_FN),
            s(Rw, Logout, OK, (1, 0), (3, 10), PUBLIC),
            s(Ro, Login(USER, b(PIN)), INCORRECT, ONE_PIN, (2, 10), PUBLIC),
            s(Ro, Login(USER, b("111111")), OK, ONE_PIN, (3, 10), USER_FN),
        ],
        end_values: ("111111", PUK),
    }]);
}

#[test]
fn unlock_with_set_pin_and_the_puk_never_costs_a_pin_try() {
    run_all(&[
        Scenario {
            name: "unlock-blocked",
            start: (0, 10),
            user_consent: false,
            steps: vec![
                s(
                    Ro,
                    SetPin(b(PUK), b("222222")),
                    CKR_SESSION_READ_ONLY,
                    NONE,
                    (0, 10),
                    PUBLIC,
                ),
                // pkcs11-tool --unlock-pin: RESET RETRY COUNTER 00 81 PUK‖new.
                s(
                    Rw,
                    SetPin(b("00000000"), b("222222")),
                    INCORRECT,
                    ONE_PIN,
                    (0, 9),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b(PUK), b("22222")),
                    LEN_RANGE,
                    NONE,
                    (0, 9),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b("1234567"), b("222222")),
                    LEN_RANGE,
                    NONE,
                    (0, 9),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b(PUK), b("222222")),
                    OK,
                    ONE_PIN,
                    (3, 10),
                    PUBLIC,
                ),
                s(Ro, Login(USER, b("222222")), OK, ONE_PIN, (3, 10), USER_FN),
            ],
            end_values: ("222222", PUK),
        },
        Scenario {
            // The PIN is not blocked: an old value that fits only the PUK's policy is the
            // PUK; a wrong one costs a PUK try and the PIN counter stays where it was.
            name: "unlock-count-low",
            start: (2, 10),
            user_consent: false,
            steps: vec![
                s(
                    Rw,
                    SetPin(b("00000000"), b("333333")),
                    INCORRECT,
                    ONE_PIN,
                    (2, 9),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b(PUK), b("333333")),
                    OK,
                    ONE_PIN,
                    (3, 10),
                    PUBLIC,
                ),
                // A 6-digit old value is the PIN, a PIN try when wrong.
                s(
                    Rw,
                    SetPin(b("000000"), b("444444")),
                    INCORRECT,
                    ONE_PIN,
                    (2, 10),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b("333333"), b("444444")),
                    OK,
                    ONE_PIN,
                    (3, 10),
                    PUBLIC,
                ),
            ],
            end_values: ("444444", PUK),
        },
    ]);
}

/// Ten wrong PUKs from a full counter: each costs exactly one try, the last blocks it.
fn ten_wrong_puks() -> Vec<Step> {
    (1..=10u8)
        .map(|n| {
            s(
                Rw,
                Login(SO, b("00000000")),
                INCORRECT,
                ONE_PIN,
                (3, 10 - n),
                PUBLIC,
            )
        })
        .collect()
}

#[test]
fn a_blocked_puk_blocks_every_unblocking_and_spends_nothing() {
    let mut steps = ten_wrong_puks();
    steps.extend([
        s(Rw, Login(SO, b(PUK)), LOCKED, ONE_PIN, (3, 0), PUBLIC),
        s(
            Rw,
            InitPin(b("111111")),
            CKR_USER_NOT_LOGGED_IN,
            NONE,
            (3, 0),
            PUBLIC,
        ),
        s(
            Rw,
            SetPin(b(PUK), b("111111")),
            LOCKED,
            ONE_PIN,
            (3, 0),
            PUBLIC,
        ),
        // The user PIN itself still works and can still be changed.
        s(Ro, Login(USER, b(PIN)), OK, ONE_PIN, (3, 0), USER_FN),
        s(
            Rw,
            SetPin(b(PIN), b("654321")),
            OK,
            ONE_PIN,
            (3, 0),
            USER_FN,
        ),
        s(Rw, Logout, OK, (1, 0), (3, 0), PUBLIC),
    ]);
    run_all(&[
        Scenario {
            name: "puk-blocked",
            start: (3, 10),
            user_consent: false,
            steps,
            end_values: ("654321", PUK),
        },
        Scenario {
            // Both blocked: the card is dead for PIN management; nothing spends anything.
            name: "both-blocked",
            start: (0, 1),
            user_consent: false,
            steps: vec![
                s(
                    Rw,
                    Login(SO, b("00000000")),
                    INCORRECT,
                    ONE_PIN,
                    (0, 0),
                    PUBLIC,
                ),
                s(Rw, Login(SO, b(PUK)), LOCKED, ONE_PIN, (0, 0), PUBLIC),
                s(
                    Rw,
                    InitPin(b("111111")),
                    CKR_USER_NOT_LOGGED_IN,
                    NONE,
                    (0, 0),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b(PUK), b("111111")),
                    LOCKED,
                    ONE_PIN,
                    (0, 0),
                    PUBLIC,
                ),
                s(
                    Rw,
                    SetPin(b(PIN), b("111111")),
                    LOCKED,
                    ONE_PIN,
                    (0, 0),
                    PUBLIC,
                ),
                s(Ro, Login(USER, b(PIN)), LOCKED, ONE_PIN, (0, 0), PUBLIC),
            ],
            end_values: (PIN, PUK),
        },
    ]);
}

#[test]
fn change_the_puk_as_so() {
    run_all(&[Scenario {
        name: "puk-change",
        start: (3, 10),
        user_consent: false,
        steps: vec![
            s(Rw, Login(SO, b(PUK)), OK, ONE_PIN, (3, 10), SO_FN),
            s(
                Ro,
                SetPin(b(PUK), b("87654321")),
                CKR_SESSION_READ_ONLY,
                NONE,
                (3, 10),
                SO_FN,
            ),
            // SO logged in: both values follow the PUK's policy.
            s(
                Rw,
                SetPin(b(PUK), b("876543")),
                LEN_RANGE,
                NONE,
                (3, 10),
                SO_FN,
            ),
            s(
                Rw,
                SetPin(b(PIN), b("87654321")),
                LEN_RANGE,
                NONE,
                (3, 10),
                SO_FN,
            ),
            s(
                Rw,
                SetPin(b(PUK), b("8765432x")),
                INVALID,
                NONE,
                (3, 10),
                SO_FN,
            ),
            // CHANGE REFERENCE DATA 82.
            s(
                Rw,
                SetPin(b(PUK), b("87654321")),
                OK,
                ONE_PIN,
                (3, 10),
                SO_FN,
            ),
            s(
                Rw,
                SetPin(b(PUK), b("11111111")),
                INCORRECT,
                ONE_PIN,
                (3, 9),
                SO_FN,
            ),
            s(Rw, Logout, OK, (1, 0), (3, 9), PUBLIC),
            s(Rw, Login(SO, b(PUK)), INCORRECT, ONE_PIN, (3, 8), PUBLIC),
            s(Rw, Login(SO, b("87654321")), OK, ONE_PIN, (3, 10), SO_FN),
        ],
        end_values: (PIN, "87654321"),
    }]);
}

#[test]
fn malformed_pins_and_puks_send_nothing_and_spend_nothing() {
    let mut steps = Vec::new();
    // (argument, expected) for a value checked against the PIN's policy (6 digits).
    let bad_pins: [(Arg, CK_RV); 9] = [
        (b("12345"), LEN_RANGE),
        (b("1234567"), LEN_RANGE),
        (b("12a456"), INVALID),
        (b(" 23456"), INVALID),
        (Arg::Bytes(b"1234\xC3\xA9"), INVALID), // "1234é": 6 bytes, not digits
        (Arg::Bytes(b"12\xFF456"), INVALID),    // not UTF-8 either
        (b(""), LEN_RANGE),
        (Arg::Ones(257), LEN_RANGE), // over the module's 256-byte limit
        (Arg::Null(6), BAD),
    ];
    let bad_puks: [(Arg, CK_RV); 6] = [
        (b("1234567"), LEN_RANGE),
        (b("123456789"), LEN_RANGE),
        (b("1234567a"), INVALID),
        (b(""), LEN_RANGE),
        (Arg::Ones(100_000), LEN_RANGE),
        (Arg::Null(8), BAD),
    ];
    for (arg, rv) in bad_pins {
        steps.push(s(Ro, Login(USER, arg), rv, NONE, (3, 10), PUBLIC));
        steps.push(s(Rw, SetPin(arg, b("654321")), rv, NONE, (3, 10), PUBLIC));
        steps.push(s(Rw, SetPin(b(PIN), arg), rv, NONE, (3, 10), PUBLIC));
        // New value of an unblock with the PUK.
        steps.push(s(Rw, SetPin(b(PUK), arg), rv, NONE, (3, 10), PUBLIC));
    }
    // NULL with length 0 is no PIN at all (no protected authentication path).
    steps.push(s(Ro, Login(USER, Arg::Null(0)), BAD, NONE, (3, 10), PUBLIC));
    steps.push(s(
        Rw,
        SetPin(Arg::Null(0), b(PIN)),
        BAD,
        NONE,
        (3, 10),
        PUBLIC,
    ));
    for (arg, rv) in bad_puks {
        steps.push(s(Rw, Login(SO, arg), rv, NONE, (3, 10), PUBLIC));
    }
    steps.push(s(Rw, Login(SO, b(PUK)), OK, ONE_PIN, (3, 10), SO_FN));
    for (arg, rv) in bad_puks {
        steps.push(s(Rw, SetPin(arg, b("87654321")), rv, NONE, (3, 10), SO_FN));
        steps.push(s(Rw, SetPin(b(PUK), arg), rv, NONE, (3, 10), SO_FN));
    }
    for (arg, rv) in bad_pins {
        steps.push(s(Rw, InitPin(arg), rv, NONE, (3, 10), SO_FN));
    }
    steps.push(s(Rw, Logout, OK, (1, 0), (3, 10), PUBLIC));
    run_all(&[Scenario {
        name: "malformed",
        start: (3, 10),
        user_consent: false,
        steps,
        end_values: (PIN, PUK),
    }]);
}

#[test]
fn context_specific_login() {
    run_all(&[
        Scenario {
            // A key without userConsent: CKU_CONTEXT_SPECIFIC is a plain VERIFY.
            name: "context-plain",
            start: (3, 10),
            user_consent: false,
            steps: vec![
                // Outside a signature: a clear error, nothing sent.
                s(
                    Rw,
                    Login(CONTEXT, b(PIN)),
                    CKR_OPERATION_NOT_INITIALIZED,
                    NONE,
                    (3, 10),
                    PUBLIC,
                ),
                s(Rw, Login(USER, b(PIN)), OK, ONE_PIN, (3, 10), USER_FN),
                s(
                    Rw,
                    Login(CONTEXT, b(PIN)),
                    CKR_OPERATION_NOT_INITIALIZED,
                    NONE,
                    (3, 10),
                    USER_FN,
                ),
                s(Rw, SignInit, OK, NONE, (3, 10), USER_FN),
                s(
                    Rw,
                    Login(CONTEXT, b("12345")),
                    LEN_RANGE,
                    NONE,
                    (3, 10),
                    USER_FN,
                ),
                s(
                    Rw,
                    Login(CONTEXT, b("000000")),
                    INCORRECT,
                    ONE_PIN,
                    (2, 10),
                    USER_FN,
                ),
                s(Rw, Login(CONTEXT, b(PIN)), OK, ONE_PIN, (3, 10), USER_FN),
                // MSE + PSO, no PIN.
                s(Rw, Sign, OK, (2, 0), (3, 10), USER_FN),
                // A wrong value that blocks the PIN ends the login (the card's too).
                s(Rw, SignInit, OK, NONE, (3, 10), USER_FN),
                s(
                    Rw,
                    Login(CONTEXT, b("000000")),
                    INCORRECT,
                    ONE_PIN,
                    (2, 10),
                    USER_FN,
                ),
                s(
                    Rw,
                    Login(CONTEXT, b("000000")),
                    INCORRECT,
                    ONE_PIN,
                    (1, 10),
                    USER_FN,
                ),
                s(
                    Rw,
                    Login(CONTEXT, b("000000")),
                    INCORRECT,
                    ONE_PIN,
                    (0, 10),
                    PUBLIC,
                ),
            ],
            end_values: (PIN, PUK),
        },
        Scenario {
            // userConsent: the PIN is kept and sent by C_Sign as VERIFY right before the
            // PSO; a wrong one stops before the PSO.
            name: "context-consent",
            start: (3, 10),
            user_consent: true,
            steps: vec![
                s(Rw, Login(USER, b(PIN)), OK, ONE_PIN, (3, 10), USER_FN),
                s(Rw, SignInit, OK, NONE, (3, 10), USER_FN),
                s(Rw, Sign, CKR_USER_NOT_LOGGED_IN, NONE, (3, 10), USER_FN),
                s(Rw, SignInit, OK, NONE, (3, 10), USER_FN),
                s(
                    Rw,
                    Login(CONTEXT, b("1234567")),
                    LEN_RANGE,
                    NONE,
                    (3, 10),
                    USER_FN,
                ),
                s(Rw, Login(CONTEXT, b("000000")), OK, NONE, (3, 10), USER_FN),
                // MSE, VERIFY (63C2): no PSO.
                s(Rw, Sign, INCORRECT, (2, 1), (2, 10), USER_FN),
                s(Rw, SignInit, OK, NONE, (2, 10), USER_FN),
                s(Rw, Login(CONTEXT, b(PIN)), OK, NONE, (2, 10), USER_FN),
                // MSE, VERIFY, PSO.
                s(Rw, Sign, OK, (3, 1), (3, 10), USER_FN),
                // Three wrong signature PINs block the PIN and end the login.
                s(Rw, SignInit, OK, NONE, (3, 10), USER_FN),
                s(Rw, Login(CONTEXT, b("000000")), OK, NONE, (3, 10), USER_FN),
                s(Rw, Sign, INCORRECT, (2, 1), (2, 10), USER_FN),
                s(Rw, SignInit, OK, NONE, (2, 10), USER_FN),
                s(Rw, Login(CONTEXT, b("000000")), OK, NONE, (2, 10), USER_FN),
                s(Rw, Sign, INCORRECT, (2, 1), (1, 10), USER_FN),
                s(Rw, SignInit, OK, NONE, (1, 10), USER_FN),
                s(Rw, Login(CONTEXT, b("000000")), OK, NONE, (1, 10), USER_FN),
                s(Rw, Sign, INCORRECT, (2, 1), (0, 10), PUBLIC),
                s(Rw, SignInit, CKR_USER_NOT_LOGGED_IN, NONE, (0, 10), PUBLIC),
            ],
            end_values: (PIN, PUK),
        },
    ]);
}

/// The same flows through the `cryptoki` crate (a typical Rust client): its error
/// values and the card's counters.
#[test]
fn cryptoki_client_change_block_unblock() {
    for variant in VARIANTS {
        cryptoki_client(variant);
    }
}

fn cryptoki_client(variant: Variant) {
    let _guard = serial();
    trace_log();
    let card = fresh_card("cryptoki", false, variant, (3, 10));
    std::env::set_var("EIMZA_VIRTUAL_CARD", &card);
    let _ = finalize();
    let pkcs11 = Pkcs11::new(module_path()).expect("load module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = *pkcs11
        .get_slots_with_token()
        .expect("slots")
        .iter()
        .find(|s| !pkcs11.get_slot_info(**s).unwrap().hardware_slot())
        .expect("software slot");
    let pin = |v: &str| AuthPin::new(v.into());
    let rv = |r: cryptoki::error::Result<()>| match r {
        Err(Error::Pkcs11(rv, _)) => Some(rv),
        Ok(()) => None,
        Err(other) => panic!("{other:?}"),
    };
    let session = pkcs11.open_rw_session(slot).unwrap();
    assert_eq!(rv(session.set_pin(&pin(PIN), &pin("654321"))), None);
    for expected in [(2, 10), (1, 10), (0, 10)] {
        assert_eq!(
            rv(session.login(UserType::User, Some(&pin(PIN)))),
            Some(RvError::PinIncorrect)
        );
        assert_eq!(card_counters(&card), expected);
    }
    assert!(pkcs11.get_token_info(slot).unwrap().user_pin_locked());
    assert_eq!(
        rv(session.login(UserType::User, Some(&pin("654321")))),
        Some(RvError::PinLocked)
    );
    assert_eq!(rv(session.login(UserType::So, Some(&pin(PUK)))), None);
    assert_eq!(rv(session.init_pin(&pin("777777"))), None);
    session.logout().unwrap();
    assert_eq!(card_counters(&card), (3, 10));
    assert_eq!(
        rv(session.login(UserType::User, Some(&pin("777777")))),
        None
    );
    drop(session);
    pkcs11.finalize().unwrap();
    assert_eq!(card_value(&card, PIN_REF), b"777777");
}
