//! `cardsim-vpcd CARD [--port N]`: puts a built-in virtual card into pcscd's
//! vpcd reader ("Virtual PCD 00 00"), so any PC/SC program can tap it, e.g.
//! `softpos tap --reader "pcsc:Virtual PCD 00 00"`. After each tap (the
//! terminal resets or powers off the card) the card is taken away and,
//! unless `--once`, presented again half a second later; Ctrl-C ends it.

use cardsim::vpcd::{Ended, VpcdClient, DEFAULT_PORT};
use cardsim::{Profile, VirtualCard};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: cardsim-vpcd CARD [--port N] [--once] [--real-delays]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cardsim-vpcd: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut card_name = None;
    let mut port = DEFAULT_PORT;
    let mut once = false;
    let mut real_delays = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("--port needs a number\n{USAGE}"))?;
            }
            "--once" => once = true,
            "--real-delays" => real_delays = true,
            "-h" | "--help" => {
                println!(
                    "{USAGE}\ncards: {}",
                    Profile::builtin_names().collect::<Vec<_>>().join(", ")
                );
                return Ok(());
            }
            _ if card_name.is_none() && !a.starts_with('-') => card_name = Some(a),
            _ => return Err(format!("unexpected argument {a:?}\n{USAGE}")),
        }
    }
    let name = card_name.ok_or_else(|| USAGE.to_string())?;
    let profile = Profile::builtin(&name).map_err(|e| e.to_string())?;
    let mut card = VirtualCard::new(&profile).map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        let mut client = VpcdClient::new(card).real_delays(real_delays).one_tap(true);
        let mut stream = VpcdClient::connect(addr).map_err(|e| e.to_string())?;
        eprintln!("cardsim-vpcd: {name} is in the field of the reader on {addr}");
        let ended = client.serve(&mut stream).map_err(|e| e.to_string())?;
        match ended {
            Ended::CardRemoved => eprintln!("cardsim-vpcd: {name} left the field"),
            Ended::TapDone => eprintln!("cardsim-vpcd: tap done, {name} taken away"),
            Ended::Closed => eprintln!("cardsim-vpcd: the reader closed the connection"),
        }
        card = client.into_card();
        if once {
            return Ok(());
        }
        // A card taken away and presented again.
        std::thread::sleep(Duration::from_millis(500));
    }
}
