//! The child processes the harness measures against: the simulator and
//! `wasp serve` (one, or the nodes of a cluster), all this same
//! executable.

use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub struct Sim {
    child: Child,
    pub ws_url: String,
    pub admin_url: String,
    pub root_key: String,
    /// Over TLS: the `wss://` URL and the test certificate to trust.
    pub tls: Option<(String, std::path::PathBuf)>,
}

/// Which cores the children run on (`taskset -c`); all when `None`.
#[derive(Clone, Debug, Default)]
pub struct Pinning {
    pub serve: Option<String>,
    pub sim: Option<String>,
}

pub struct Serve {
    child: Child,
    pub api_url: String,
}

impl Sim {
    pub async fn start() -> anyhow::Result<Sim> {
        Sim::start_with(None, None).await
    }

    /// A simulator on `cores`, serving the chat endpoint over TLS too when
    /// `tls_ca_file` says where to write its test certificate.
    pub async fn start_with(
        cores: Option<&str>,
        tls_ca_file: Option<&Path>,
    ) -> anyhow::Result<Sim> {
        let mut command = wasp_command("sim", cores)?;
        command.args(["--listen", "127.0.0.1:0"]);
        if let Some(path) = tls_ca_file {
            command.args(["--tls-listen", "127.0.0.1:0"]);
            command.arg("--tls-ca-file").arg(path);
        }
        let (child, mut lines) = spawn(command, "wasp sim")?;
        let ws_url = value_of(&mut lines, "ws_url=").await?;
        let tls = match tls_ca_file {
            Some(path) => Some((value_of(&mut lines, "wss_url=").await?, path.to_owned())),
            None => None,
        };
        let admin_url = value_of(&mut lines, "admin_url=").await?;
        let root_key = value_of(&mut lines, "root_public_key=").await?;
        Ok(Sim {
            child,
            ws_url,
            admin_url,
            root_key,
            tls,
        })
    }

    /// `--whatsapp-url` and whom to trust: over TLS when it serves TLS.
    fn chat_args(&self) -> Vec<std::ffi::OsString> {
        match &self.tls {
            Some((url, ca)) => vec![
                "--whatsapp-url".into(),
                url.into(),
                "--whatsapp-ca-file".into(),
                ca.into(),
            ],
            None => vec!["--whatsapp-url".into(), (&self.ws_url).into()],
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

impl Serve {
    /// One `wasp serve` over `data`, with `extra` flags (a store), on
    /// `cores`.
    pub async fn start(
        sim: &Sim,
        data: &Path,
        max_sessions: usize,
        extra: &[String],
        cores: Option<&str>,
    ) -> anyhow::Result<Serve> {
        let mut command = wasp_command("serve", cores)?;
        command
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data")
            .arg(data)
            .args(sim.chat_args())
            .args(["--whatsapp-root-key", &sim.root_key])
            .args(["--max-sessions", &(max_sessions * 2 + 10).to_string()])
            .args(["--restore-rate", "1000"])
            .args(extra);
        let (child, mut lines) = spawn(command, "wasp serve")?;
        let api_url = value_of(&mut lines, "api_url=").await?;
        Ok(Serve { child, api_url })
    }

    /// A node of a cluster: `wasp serve` listening on `port` (so a node
    /// restarted keeps its advertised URL), with `cluster` (`--redis`,
    /// `--postgres`, `--node-id`, ...) added; default heartbeat, lease
    /// and restore pace, as users run it.
    pub async fn start_node(
        sim: &Sim,
        data: &Path,
        port: u16,
        cluster: &[String],
    ) -> anyhow::Result<Serve> {
        let mut command = wasp_command("serve", None)?;
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--advertise", &format!("http://127.0.0.1:{port}")])
            .arg("--data")
            .arg(data)
            .args(["--whatsapp-url", &sim.ws_url])
            .args(["--whatsapp-root-key", &sim.root_key])
            .args(cluster);
        let (child, mut lines) = spawn(command, "wasp serve (cluster node)")?;
        let api_url = value_of(&mut lines, "api_url=").await?;
        Ok(Serve { child, api_url })
    }

    /// Kills it at once (SIGKILL): a node dying.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .context("running kill")?;
            if !status.success() {
                bail!("kill -TERM {pid} failed");
            }
        }
        let status = self.child.wait().await?;
        if !status.success() {
            bail!("wasp serve exited with {status}");
        }
        Ok(())
    }
}

type Lines = tokio::io::Lines<BufReader<ChildStdout>>;

/// This executable running `subcommand`, logging only warnings; on
/// `cores` only (through util-linux's `taskset`) when given.
fn wasp_command(subcommand: &str, cores: Option<&str>) -> anyhow::Result<Command> {
    let exe = std::env::current_exe()?;
    let mut command = match cores {
        Some(cores) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", cores]).arg(exe);
            taskset
        }
        None => Command::new(exe),
    };
    command.args(["--log", "warn", subcommand]);
    Ok(command)
}

/// Moves this process (the harness: the load generator) onto `cores`.
pub fn pin_self(cores: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset (util-linux) to pin the harness")?;
    if !status.success() {
        bail!("taskset -p -c {cores} failed: {status}");
    }
    Ok(())
}

/// Starts `command` (killed if the harness drops it) with its stdout as
/// lines to read the values it prints.
fn spawn(mut command: Command, what: &str) -> anyhow::Result<(Child, Lines)> {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {what}"))?;
    let stdout = child.stdout.take().context("child has no stdout")?;
    Ok((child, BufReader::new(stdout).lines()))
}

async fn value_of(lines: &mut Lines, prefix: &str) -> anyhow::Result<String> {
    while let Some(line) = lines.next_line().await? {
        if let Some(value) = line.strip_prefix(prefix) {
            return Ok(value.trim().to_string());
        }
    }
    bail!("the child exited before printing {prefix}")
}
