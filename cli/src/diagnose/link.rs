//! How the diagnosis reaches a card: any PC/SC reader, or a software card file in
//! process. Both give the ATR and exchange raw APDUs; nothing else.

use std::ffi::CString;
#[cfg(any(feature = "demo", test))]
use std::path::Path;

#[cfg(any(feature = "demo", test))]
use virtual_card::VirtualCard;

/// A card the diagnosis can talk to.
pub trait Link {
    /// The reader, as the report names it.
    fn reader(&self) -> String;
    fn atr(&self) -> Vec<u8>;
    /// One APDU; the answer is `data ‖ SW1 SW2` as the card sent it (possibly garbage).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String>;
}

/// A software card file, opened in this process. The card file is only written by
/// PIN commands, which the diagnosis never sends. Only in a build with the software
/// card (feature "demo"; the packaged tool has none).
#[cfg(any(feature = "demo", test))]
pub struct SoftwareLink {
    card: VirtualCard,
    name: String,
}

#[cfg(any(feature = "demo", test))]
impl SoftwareLink {
    pub fn open(path: &Path) -> Result<SoftwareLink, String> {
        let card = VirtualCard::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(SoftwareLink::new(
            card,
            format!("software card {}", path.display()),
        ))
    }

    pub fn new(card: VirtualCard, name: String) -> SoftwareLink {
        SoftwareLink { card, name }
    }

    #[cfg(test)]
    pub fn card(&self) -> &VirtualCard {
        &self.card
    }

    #[cfg(test)]
    pub fn into_card(self) -> VirtualCard {
        self.card
    }
}

#[cfg(any(feature = "demo", test))]
impl Link for SoftwareLink {
    fn reader(&self) -> String {
        self.name.clone()
    }

    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.card.transmit(apdu))
    }
}

/// A PC/SC card inside one transaction, so no other application moves the card's
/// current file while the diagnosis reads.
pub struct PcscLink<'a> {
    card: &'a pcsc::Card,
    reader: String,
    atr: Vec<u8>,
    buffer: Vec<u8>,
}

impl Link for PcscLink<'_> {
    fn reader(&self) -> String {
        self.reader.clone()
    }

    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        self.card
            .transmit(apdu, &mut self.buffer)
            .map(<[u8]>::to_vec)
            .map_err(|e| e.to_string())
    }
}

/// Why no PC/SC card could be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcscError {
    /// No PC/SC service (pcscd not running) or no reader at all.
    NoReader,
    /// `--reader NAME` matched no reader.
    ReaderNotFound(String),
    /// Readers, but none with a card.
    NoCard,
    Failed(String),
}

/// Connects to the first reader with a card (or the one whose name contains
/// `wanted`), starts a transaction, runs `work` on it, and leaves the card as it was
/// (`SCardEndTransaction(LEAVE)`, `SCardDisconnect(LEAVE)`: no reset, so other
/// applications keep their login).
pub fn with_pcsc<T>(
    wanted: Option<&str>,
    work: impl FnOnce(&mut dyn Link) -> T,
) -> Result<T, PcscError> {
    use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
    let ctx = Context::establish(Scope::User).map_err(|_| PcscError::NoReader)?;
    let readers: Vec<CString> = match ctx.list_readers_owned() {
        Ok(readers) => readers,
        Err(pcsc::Error::NoReadersAvailable) | Err(pcsc::Error::NoService) => Vec::new(),
        Err(e) => return Err(PcscError::Failed(e.to_string())),
    };
    if readers.is_empty() {
        return Err(PcscError::NoReader);
    }
    let candidates: Vec<CString> = match wanted {
        Some(name) => {
            let matching: Vec<CString> = readers
                .into_iter()
                .filter(|r| r.to_string_lossy().contains(name))
                .collect();
            if matching.is_empty() {
                return Err(PcscError::ReaderNotFound(name.to_string()));
            }
            matching
        }
        None => readers,
    };
    let mut states: Vec<ReaderState> = candidates
        .iter()
        .map(|r| ReaderState::new(r.clone(), State::UNAWARE))
        .collect();
    ctx.get_status_change(std::time::Duration::ZERO, &mut states)
        .map_err(|e| PcscError::Failed(e.to_string()))?;
    let reader = states
        .iter()
        .find(|s| s.event_state().contains(State::PRESENT))
        .map(|s| s.name().to_owned())
        .ok_or(PcscError::NoCard)?;
    let mut card = match ctx.connect(&reader, ShareMode::Shared, Protocols::T1) {
        Ok(card) => card,
        // A card without T=1 is no AKIS card, but its ATR is still worth reporting.
        Err(pcsc::Error::ProtoMismatch) => ctx
            .connect(&reader, ShareMode::Shared, Protocols::ANY)
            .map_err(|e| PcscError::Failed(e.to_string()))?,
        Err(pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard) => return Err(PcscError::NoCard),
        Err(e) => return Err(PcscError::Failed(e.to_string())),
    };
    let atr = card
        .status2_owned()
        .map(|s| s.atr().to_vec())
        .map_err(|e| PcscError::Failed(e.to_string()))?;
    let result = {
        let tx = card
            .transaction()
            .map_err(|e| PcscError::Failed(e.to_string()))?;
        let mut link = PcscLink {
            card: &tx,
            reader: reader.to_string_lossy().into_owned(),
            atr,
            buffer: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        };
        let result = work(&mut link);
        let _ = tx.end(Disposition::LeaveCard);
        result
    };
    let _ = card.disconnect(Disposition::LeaveCard);
    Ok(result)
}
