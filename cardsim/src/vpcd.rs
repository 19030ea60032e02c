//! A client of vsmartcard's vpcd protocol: it puts a [`VirtualCard`] into a
//! real PC/SC reader. Debian's `vsmartcard-vpcd` driver makes pcscd show a
//! reader ("Virtual PCD 00 00") whose card is whatever connects to TCP port
//! 35963, so a terminal using the PC/SC stack (pcsc-lite, the `pcsc` crate)
//! talks to a cardsim card without knowing it.
//!
//! The protocol: every message, both ways, is a two-byte big-endian length
//! and a payload. The reader sends one-byte control messages (00 power off,
//! 01 power on, 02 reset: no answer; 04 get ATR: the ATR) and APDUs (any
//! longer message), which the card answers with its response APDU. Closing
//! the connection is how a card leaves the field.

use crate::card::VirtualCard;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where Debian's vpcd driver waits for a virtual card (reader
/// "Virtual PCD 00 00"; CHANNELID 0x8C7B in `/etc/reader.conf.d/vpcd`).
/// The second slot, "Virtual PCD 00 01", is on the next port.
pub const DEFAULT_PORT: u16 = 35963;

/// An ATR as PC/SC contactless readers build it for an ISO 14443-4 card
/// (PC/SC part 3, 3.1.3.2.3): no historical bytes from the card, T=1.
pub const CONTACTLESS_ATR: [u8; 20] = [
    0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x6A,
];

const POWER_OFF: u8 = 0x00;
const POWER_ON: u8 = 0x01;
const RESET: u8 = 0x02;
const GET_ATR: u8 = 0x04;

/// Why the client stopped serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The card left the field (its profile says when): the client closed
    /// the connection without answering the command in flight.
    CardRemoved,
    /// The reader side closed the connection, or [`Served::remove`] did.
    Closed,
    /// The terminal reset or powered off the card after exchanging APDUs,
    /// and the client was asked to leave then ([`VpcdClient::one_tap`]).
    TapDone,
}

/// What went wrong talking to vpcd.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    #[error(
        "cannot reach the vpcd reader at {addr}: {source} (is pcscd running with \
         vsmartcard-vpcd? `scripts/pcscd.sh start`)"
    )]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("vpcd connection: {0}")]
    Io(#[from] io::Error),
    #[error("the vpcd client thread panicked")]
    Panicked,
}

/// Counts of what the reader asked, for tests and timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub apdus: u32,
    pub power_ons: u32,
    pub atr_requests: u32,
}

/// A virtual card as a vpcd client.
pub struct VpcdClient {
    card: VirtualCard,
    atr: Vec<u8>,
    real_delays: bool,
    one_tap: bool,
    stats: Stats,
}

impl VpcdClient {
    /// Serves `card` with the contactless ATR.
    pub fn new(card: VirtualCard) -> Self {
        VpcdClient {
            card,
            atr: CONTACTLESS_ATR.to_vec(),
            real_delays: false,
            one_tap: false,
            stats: Stats::default(),
        }
    }

    /// Answers GET ATR with `atr` instead.
    pub fn with_atr(mut self, atr: Vec<u8>) -> Self {
        self.atr = atr;
        self
    }

    /// Sleeps for the delay the card reports before each answer. Off by
    /// default, so timings measure the PC/SC stack; on, a slow profile is
    /// slow for a real reader's deadline too.
    pub fn real_delays(mut self, on: bool) -> Self {
        self.real_delays = on;
        self
    }

    /// Leaves the field once the terminal has finished with the card (a
    /// reset or power-off after APDUs), as a person takes a card away
    /// after the beep.
    pub fn one_tap(mut self, on: bool) -> Self {
        self.one_tap = on;
        self
    }

    pub fn card(&self) -> &VirtualCard {
        &self.card
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn into_card(self) -> VirtualCard {
        self.card
    }

    /// Connects to the vpcd driver at `addr` (the card enters the field).
    pub fn connect(addr: SocketAddr) -> Result<TcpStream, VpcdError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|source| VpcdError::Connect { addr, source })?;
        // One small message per exchange: Nagle would add its delay to each.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Answers the reader on `stream` until the card leaves the field or the
    /// connection closes. The card is then out of the field: the stream is
    /// shut down either way.
    pub fn serve(&mut self, stream: &mut TcpStream) -> Result<Ended, VpcdError> {
        let ended = self.serve_inner(stream);
        let _ = stream.shutdown(Shutdown::Both);
        ended
    }

    fn serve_inner(&mut self, stream: &mut TcpStream) -> Result<Ended, VpcdError> {
        let apdus_before = self.stats.apdus;
        loop {
            quick_ack(stream);
            let Some(message) = read_message(stream)? else {
                return Ok(Ended::Closed);
            };
            match message.as_slice() {
                [POWER_OFF] | [RESET] if self.one_tap && self.stats.apdus > apdus_before => {
                    return Ok(Ended::TapDone);
                }
                [POWER_ON] | [RESET] => {
                    // A new tap: the card forgets the last selection and
                    // transaction but keeps its ATC.
                    self.stats.power_ons = self.stats.power_ons.saturating_add(1);
                    self.card.reset();
                }
                [POWER_OFF] => {}
                [GET_ATR] => {
                    self.stats.atr_requests = self.stats.atr_requests.saturating_add(1);
                    write_message(stream, &self.atr)?;
                }
                // Unknown controls have no answer in the protocol.
                [_] => {}
                apdu => {
                    self.stats.apdus = self.stats.apdus.saturating_add(1);
                    let Ok(answer) = self.card.transmit(apdu) else {
                        return Ok(Ended::CardRemoved);
                    };
                    if self.real_delays {
                        std::thread::sleep(Duration::from_millis(u64::from(self.card.delay_ms())));
                    }
                    write_message(stream, &answer)?;
                }
            }
        }
    }

    /// Connects and serves on a thread of its own; the returned handle
    /// takes the card out of the field.
    pub fn spawn(mut self, addr: SocketAddr) -> Result<Served, VpcdError> {
        let mut stream = Self::connect(addr)?;
        let control = stream.try_clone()?;
        let thread = std::thread::Builder::new()
            .name("vpcd-card".into())
            .spawn(move || {
                let ended = self.serve(&mut stream);
                (self, ended)
            })?;
        Ok(Served { control, thread })
    }
}

/// A card being served on its own thread.
pub struct Served {
    control: TcpStream,
    thread: JoinHandle<(VpcdClient, Result<Ended, VpcdError>)>,
}

impl Served {
    /// Takes the card out of the field (closes the connection) and returns
    /// the client and why it stopped: [`Ended::CardRemoved`] if the card
    /// had already left by itself.
    pub fn remove(self) -> Result<(VpcdClient, Ended), VpcdError> {
        let _ = self.control.shutdown(Shutdown::Both);
        let (client, ended) = self.thread.join().map_err(|_| VpcdError::Panicked)?;
        match ended {
            Ok(e) => Ok((client, e)),
            // Our own shutdown shows up as a reset or an aborted read on
            // some systems: still a card taken away, not a failure.
            Err(VpcdError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::NotConnected
                        | io::ErrorKind::BrokenPipe
                ) =>
            {
                Ok((client, Ended::Closed))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the client has stopped by itself (card removed, reader gone).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// vpcd sends a message's length and its body in two writes with Nagle's
/// algorithm on, so the body waits for our ACK of the length; a delayed ACK
/// (~40 ms on Linux) would then be most of every exchange's time. Quick-ack
/// mode does not last, so it is asked for before each message.
#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    // Only a matter of speed: failing to set it changes no byte.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_: &TcpStream) {}

/// One length-prefixed message, or `None` at a clean end of stream.
fn read_message(stream: &mut impl Read) -> Result<Option<Vec<u8>>, VpcdError> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut payload)?;
    Ok(Some(payload))
}

fn write_message(stream: &mut impl Write, payload: &[u8]) -> Result<(), VpcdError> {
    let len = u16::try_from(payload.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a vpcd message holds at most 65535 bytes",
        )
    })?;
    let mut frame = Vec::with_capacity(payload.len().saturating_add(2));
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    // One write per message, so the reader gets it in one segment.
    stream.write_all(&frame)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;
    use std::net::TcpListener;

    /// Plays vpcd's side: a listener the client connects to.
    fn reader() -> (TcpListener, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    }

    fn send(s: &mut TcpStream, payload: &[u8]) {
        write_message(s, payload).unwrap();
    }

    fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
        read_message(s).unwrap()
    }

    fn card(name: &str) -> VirtualCard {
        VirtualCard::new(&Profile::builtin(name).unwrap()).unwrap()
    }

    const PPSE: &str = "00A404000E325041592E5359532E444446303100";

    #[test]
    fn answers_atr_and_apdus_like_the_card_itself() {
        let (listener, addr) = reader();
        let served = VpcdClient::new(card("visa-cvn18")).spawn(addr).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        send(&mut s, &[POWER_ON]);
        send(&mut s, &[GET_ATR]);
        assert_eq!(recv(&mut s).unwrap(), CONTACTLESS_ATR);
        let ppse = hex::decode(PPSE).unwrap();
        send(&mut s, &ppse);
        let answer = recv(&mut s).unwrap();
        // The same card in-process gives the same bytes.
        let expected = card("visa-cvn18").transmit(&ppse).unwrap();
        assert_eq!(answer, expected);
        assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
        send(&mut s, &[POWER_OFF]);
        send(&mut s, &[0x7F]);
        send(&mut s, &[GET_ATR]);
        assert_eq!(recv(&mut s).unwrap(), CONTACTLESS_ATR);
        drop(s);
        let (client, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::Closed);
        let st = client.stats();
        assert_eq!((st.apdus, st.power_ons, st.atr_requests), (1, 1, 2));
    }

    #[test]
    fn a_removed_card_closes_the_connection_without_answering() {
        let (listener, addr) = reader();
        let served = VpcdClient::new(card("visa-removed")).spawn(addr).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        send(&mut s, &[POWER_ON]);
        let ppse = hex::decode(PPSE).unwrap();
        // visa-removed answers two commands, then leaves.
        send(&mut s, &ppse);
        assert!(recv(&mut s).is_some());
        send(&mut s, &ppse);
        assert!(recv(&mut s).is_some());
        send(&mut s, &ppse);
        assert_eq!(read_message(&mut s).ok().flatten(), None);
        let (_, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::CardRemoved);
    }

    #[test]
    fn power_on_starts_a_new_tap() {
        let (listener, addr) = reader();
        let served = VpcdClient::new(card("visa-removed")).spawn(addr).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        let ppse = hex::decode(PPSE).unwrap();
        for _ in 0..3 {
            // Each power-on resets the count of commands this tap, so the
            // card that leaves after two stays for two each time.
            send(&mut s, &[POWER_ON]);
            send(&mut s, &ppse);
            assert!(recv(&mut s).is_some());
            send(&mut s, &ppse);
            assert!(recv(&mut s).is_some());
        }
        drop(s);
        let (client, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::Closed);
        assert_eq!(client.stats().power_ons, 3);
    }

    #[test]
    fn one_tap_leaves_after_the_terminal_is_done() {
        let (listener, addr) = reader();
        let served = VpcdClient::new(card("visa-cvn18"))
            .one_tap(true)
            .spawn(addr)
            .unwrap();
        let (mut s, _) = listener.accept().unwrap();
        // Resets before any APDU (pcscd's own power-up) do not end the tap.
        send(&mut s, &[POWER_ON]);
        send(&mut s, &[RESET]);
        send(&mut s, &[GET_ATR]);
        assert!(recv(&mut s).is_some());
        send(&mut s, &hex::decode(PPSE).unwrap());
        assert!(recv(&mut s).is_some());
        send(&mut s, &[RESET]);
        assert_eq!(read_message(&mut s).ok().flatten(), None);
        let (_, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::TapDone);
    }

    #[test]
    fn framing_is_two_bytes_big_endian() {
        let mut out = Vec::new();
        write_message(&mut out, &[0xAB; 0x0102]).unwrap();
        assert_eq!(out[..2], [0x01, 0x02]);
        assert_eq!(out.len(), 0x0104);
        let mut input = io::Cursor::new(out.clone());
        assert_eq!(read_message(&mut input).unwrap().unwrap().len(), 0x0102);
        assert_eq!(read_message(&mut input).unwrap(), None);
        // Tampered twin: a length that promises more than arrives is an
        // error, not a short message.
        let mut short = io::Cursor::new(out[..out.len() - 1].to_vec());
        assert!(read_message(&mut short).is_err());
        assert!(write_message(&mut Vec::new(), &vec![0; 0x1_0000]).is_err());
    }

    #[test]
    fn no_reader_gives_advice() {
        let (listener, addr) = reader();
        drop(listener);
        let err = VpcdClient::new(card("visa-cvn18"))
            .spawn(addr)
            .err()
            .unwrap();
        assert!(err.to_string().contains("scripts/pcscd.sh start"), "{err}");
    }
}
