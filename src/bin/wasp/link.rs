//! `wasp link`: one session in the foreground, its events as JSON lines
//! on stdout, and each QR code drawn in the terminal on stderr.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::args::WhatsAppArgs;
use crate::signals::shutdown_signal;

#[derive(Args)]
pub struct LinkArgs {
    /// Directory holding one sub-directory of state per session.
    #[arg(long, env = "WASP_DATA", default_value = "./data")]
    data: PathBuf,
    /// Session id (`[A-Za-z0-9_-]{1,64}`); its state lives in DATA/ID.
    #[arg(long, default_value = "default")]
    session: String,
    /// Link with an 8-character code for this phone number instead of
    /// scanning a QR code.
    #[arg(long, value_name = "PHONE")]
    pair_code: Option<String>,
    /// Draw each QR code with Unicode blocks on stderr (stdout keeps one
    /// JSON event per line): `auto` does when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = TerminalQr::Auto)]
    terminal_qr: TerminalQr,
    #[command(flatten)]
    whatsapp: WhatsAppArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TerminalQr {
    Auto,
    Always,
    Never,
}

pub async fn run(args: LinkArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    use std::sync::Arc;
    use wasp::client::{ChannelSink, Client, ClientConfig, Event};

    if !wasp::store::valid_session_id(&args.session) {
        anyhow::bail!(
            "invalid session id {:?}: use 1-64 of [A-Za-z0-9_-]",
            args.session
        );
    }
    let data = wasp::store::DataDir::open(&args.data)
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    let stores = Arc::new(wasp::store::FileStores::new(data));
    let config = args.whatsapp.client_config(ClientConfig::default())?;
    let (sink, mut events) = ChannelSink::new();
    let client = Client::spawn(
        args.session.clone(),
        Arc::new(config),
        stores,
        Arc::new(sink),
    );
    let mut pair_code_phone = args.pair_code;
    // Linking by code shows no QR code to scan.
    let draw_qr = pair_code_phone.is_none()
        && match args.terminal_qr {
            TerminalQr::Always => true,
            TerminalQr::Never => false,
            TerminalQr::Auto => std::io::stderr().is_terminal(),
        };

    let shutdown = shutdown_signal()?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some((_, event)) = event else { break };
                println!("{}", serde_json::to_string(&event)?);
                match &event {
                    // The first QR means the server is waiting for a link:
                    // that is when a linking code can be asked for instead.
                    Event::Qr { code, expires_in_secs } => {
                        if draw_qr {
                            match crate::qr::render(code) {
                                Ok(drawing) => eprintln!(
                                    "{drawing}Scan with WhatsApp on the phone (Linked devices) within {expires_in_secs} s"
                                ),
                                Err(e) => tracing::warn!(error = %e, "cannot draw the QR code"),
                            }
                        }
                        if let Some(phone) = pair_code_phone.take() {
                            let code = client
                                .request_pair_code(&phone)
                                .await
                                .context("requesting a linking code")?;
                            eprintln!("Enter this code on the phone: {code}");
                        }
                    }
                    Event::LoggedOut { .. } | Event::Stopped { .. } => break,
                    _ => {}
                }
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                client.shutdown().await;
                break;
            }
        }
    }
    Ok(())
}
