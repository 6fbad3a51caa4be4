//! The deployment files and the binary as the container image runs it.
//!
//! No image can be built here (no base images can be pulled), so this
//! checks what can be: the Dockerfile keeps its promises (non-root user,
//! the /data volume, a health check wasp answers itself, nothing fetched
//! at run time, a build context that holds what it copies), the compose
//! and Railway files agree with it and use only fields their formats
//! define, every `serve` flag has its `WASP_*` variable (documented in
//! the README), and `wasp serve` configured by environment variables
//! alone, as an unprivileged user, links a session, logs JSON, answers
//! its health check, shuts down on SIGTERM and writes only under its
//! data directory. (hadolint and `docker compose config` run in .ci/run.)
#![cfg(unix)]

#[allow(dead_code)] // not every helper is used here
#[path = "interop/admin.rs"]
mod admin;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use admin::AdminClient;
use serde_json::Value;

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

/// The user the image runs as (distroless's `nonroot`).
const IMAGE_UID: u32 = 65532;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Dockerfile's instructions: continuation lines joined, comments
/// dropped, each as (INSTRUCTION, arguments).
fn dockerfile() -> Vec<(String, String)> {
    let text = repo_file("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (instruction, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((instruction.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// The instructions of the last stage (the image that runs).
fn final_stage(all: &[(String, String)]) -> Vec<(String, String)> {
    let from = all.iter().rposition(|(i, _)| i == "FROM").expect("a FROM");
    all[from..].to_vec()
}

fn args_of<'a>(stage: &'a [(String, String)], instruction: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(i, _)| i == instruction)
        .map(|(_, a)| a.as_str())
        .collect()
}

/// `["a", "b"]` (exec form) as its strings.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args.trim()).unwrap_or_else(|e| panic!("not exec form ({e}): {args}"))
}

/// `KEY=value` pairs of the ENV instructions.
fn env_of(stage: &[(String, String)]) -> Vec<(String, String)> {
    args_of(stage, "ENV")
        .into_iter()
        .flat_map(|a| a.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn wasp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasp"));
    command.env_clear();
    command
}

/// The `[env: NAME=]` names of a command's options, and the options
/// without one.
fn help_envs(subcommand: &str) -> (BTreeSet<String>, Vec<String>) {
    let out = wasp()
        .args([subcommand, "--help"])
        .output()
        .expect("wasp runs");
    let help = String::from_utf8(out.stdout).expect("utf-8 help");
    let mut envs = BTreeSet::new();
    let mut missing = Vec::new();
    // One block per option: from its `--name` line to the next option.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let starts_option =
            t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", "));
        if starts_option && line.starts_with("  ") && !line.starts_with("          ") {
            let name = t
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap_or(t)
                .trim_end_matches(',')
                .to_string();
            blocks.push((name, String::new()));
        }
        if let Some((_, text)) = blocks.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    for (name, text) in blocks {
        if name == "--help" || name == "--version" {
            continue;
        }
        match text.split("[env: ").nth(1) {
            Some(rest) => {
                let env = rest.split(['=', ']']).next().unwrap_or_default();
                envs.insert(env.to_string());
            }
            None => missing.push(name),
        }
    }
    (envs, missing)
}

#[test]
fn every_serve_flag_has_a_wasp_variable_documented_in_the_readme() {
    let (envs, missing) = help_envs("serve");
    assert!(
        missing.is_empty(),
        "serve flags without an env: {missing:?}"
    );
    assert!(envs.len() > 20, "the help was parsed: {envs:?}");
    for env in &envs {
        assert!(env.starts_with("WASP_"), "{env} is not a WASP_ variable");
    }
    let readme = repo_file("README.md");
    let documented: BTreeSet<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .filter_map(|l| l.split('|').nth(2))
        .map(|cell| cell.trim().trim_matches('`').to_string())
        .collect();
    let undocumented: Vec<_> = envs.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "missing from README's configuration table: {undocumented:?}"
    );
}

#[test]
fn the_dockerfile_runs_wasp_unprivileged_with_its_volume_and_health_check() {
    let all = dockerfile();
    let stage = final_stage(&all);

    let user = args_of(&stage, "USER");
    let user = user.last().expect("the final stage sets USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        !["", "root", "0"].contains(&name),
        "the image must not run as root: USER {user}"
    );
    assert_eq!(
        name,
        IMAGE_UID.to_string(),
        "tests/deploy.rs runs as {IMAGE_UID}"
    );

    let entrypoint = exec_form(args_of(&stage, "ENTRYPOINT").last().expect("ENTRYPOINT"));
    let binary = entrypoint[0].clone();
    assert!(
        args_of(&stage, "COPY")
            .iter()
            .any(|c| c.ends_with(&format!(" {binary}"))),
        "the ENTRYPOINT {binary} is copied into the image"
    );
    assert_eq!(exec_form(args_of(&stage, "CMD")[0]), ["serve"]);

    let env = env_of(&stage);
    let get = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("ENV {key} is set"))
    };
    let data = get("WASP_DATA");
    let volumes = exec_form(args_of(&stage, "VOLUME")[0]);
    assert_eq!(volumes, [data], "state goes to the volume");
    let listen = get("WASP_LISTEN");
    let port = listen.rsplit(':').next().unwrap_or_default();
    assert!(
        listen.starts_with("0.0.0.0:"),
        "reachable from outside: {listen}"
    );
    assert_eq!(args_of(&stage, "EXPOSE"), [port]);
    let (serve_envs, _) = help_envs("serve");
    for (key, _) in &env {
        if key.starts_with("WASP_") {
            assert!(serve_envs.contains(key), "ENV {key} is no serve setting");
        }
    }

    let health = args_of(&stage, "HEALTHCHECK");
    let health = health.first().expect("a HEALTHCHECK");
    let command = health.split_once("CMD").expect("HEALTHCHECK ... CMD").1;
    assert_eq!(exec_form(command), [binary.as_str(), "healthcheck"]);

    // Nothing is fetched from the network by the Dockerfile itself.
    for (instruction, args) in &all {
        if instruction == "ADD" {
            assert!(!args.contains("://"), "ADD of a URL: {args}");
        }
        if instruction == "RUN" {
            for tool in ["curl ", "wget "] {
                assert!(!args.contains(tool), "RUN downloads with {tool}: {args}");
            }
        }
    }

    // The build context (.dockerignore) holds everything the build copies.
    let ignore = repo_file(".dockerignore");
    let kept: BTreeSet<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|p| p.trim_end_matches('/'))
        .collect();
    assert!(ignore.lines().any(|l| l.trim() == "*"), "an allowlist");
    let mut copied = 0;
    for (instruction, args) in &all {
        if instruction != "COPY" || args.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for source in &words[..words.len() - 1] {
            assert!(
                kept.contains(source),
                "COPY {source} is left out of the context"
            );
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(source).exists(),
                "COPY {source}: no such file"
            );
            copied += 1;
        }
    }
    assert!(copied >= 5, "the build stage's COPYs were read");
}

#[test]
fn the_compose_file_runs_the_image_with_its_volume_key_and_health_check() {
    let compose = repo_file("docker-compose.yml");
    let all = dockerfile();
    let stage = final_stage(&all);
    let data = exec_form(args_of(&stage, "VOLUME")[0]).remove(0);
    let has = |needle: &str| {
        assert!(
            compose.contains(needle),
            "docker-compose.yml lacks {needle:?}"
        );
    };
    has(&format!("- wasp-data:{data}"));
    has("WASP_API_KEY: ${WASP_API_KEY:?");
    has(r#"test: ["CMD", "/usr/local/bin/wasp", "healthcheck"]"#);
    has("read_only: true");
    has("stop_grace_period:");
    has("mem_limit:");
    // Every variable it sets is a setting of wasp serve.
    let (serve_envs, _) = help_envs("serve");
    for line in compose.lines() {
        let t = line.trim().trim_start_matches("# ");
        if let Some((key, _)) = t.split_once(':') {
            if key.starts_with("WASP_") && key != "WASP_PORT" {
                assert!(
                    serve_envs.contains(key),
                    "compose sets {key}, no serve setting"
                );
            }
        }
    }
}

/// railway.json against the fields Railway's config-as-code documents
/// (its schema at railway.com cannot be fetched here).
#[test]
fn the_railway_config_uses_documented_fields_and_matches_the_image() {
    let config: Value = serde_json::from_str(&repo_file("railway.json")).expect("JSON");
    let top = config.as_object().expect("an object");
    let build_fields = [
        "builder",
        "dockerfilePath",
        "watchPatterns",
        "buildCommand",
        "railpackVersion",
        "nixpacksPlan",
        "nixpacksConfigPath",
    ];
    let deploy_fields = [
        "startCommand",
        "preDeployCommand",
        "numReplicas",
        "multiRegionConfig",
        "healthcheckPath",
        "healthcheckTimeout",
        "restartPolicyType",
        "restartPolicyMaxRetries",
        "cronSchedule",
        "sleepApplication",
        "region",
        "runtime",
        "overlapSeconds",
        "drainingSeconds",
        "requiredMountPath",
        "limitOverride",
    ];
    for key in top.keys() {
        assert!(
            ["$schema", "build", "deploy"].contains(&key.as_str()),
            "unknown {key}"
        );
    }
    let build = config["build"].as_object().expect("build");
    let deploy = config["deploy"].as_object().expect("deploy");
    for key in build.keys() {
        assert!(build_fields.contains(&key.as_str()), "unknown build.{key}");
    }
    for key in deploy.keys() {
        assert!(
            deploy_fields.contains(&key.as_str()),
            "unknown deploy.{key}"
        );
    }
    assert_eq!(config["build"]["builder"], "DOCKERFILE");
    let dockerfile_path = config["build"]["dockerfilePath"].as_str().expect("path");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dockerfile_path)
        .exists());
    for key in [
        "healthcheckTimeout",
        "numReplicas",
        "drainingSeconds",
        "restartPolicyMaxRetries",
    ] {
        if let Some(v) = deploy.get(key) {
            assert!(v.is_u64(), "deploy.{key} must be a number, not {v}");
        }
    }
    assert!(["ON_FAILURE", "ALWAYS", "NEVER"]
        .contains(&config["deploy"]["restartPolicyType"].as_str().unwrap_or("")));
    // One replica: a session must never run twice (cluster mode, with
    // leases, is issue #15).
    assert_eq!(config["deploy"]["numReplicas"], 1);

    let all = dockerfile();
    let stage = final_stage(&all);
    let entrypoint = exec_form(args_of(&stage, "ENTRYPOINT")[0]);
    let start: Vec<&str> = config["deploy"]["startCommand"]
        .as_str()
        .expect("startCommand")
        .split_whitespace()
        .collect();
    assert_eq!(start, [entrypoint[0].as_str(), "serve"]);
    assert_eq!(config["deploy"]["healthcheckPath"], "/healthz");
    let data = exec_form(args_of(&stage, "VOLUME")[0]).remove(0);
    assert_eq!(config["deploy"]["requiredMountPath"], data.as_str());
}

/// The uid this test runs as.
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").expect("procfs").uid()
}

fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Every path under `dir`.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// `wasp serve` as the image runs it: no flags, no inherited
/// environment, only `WASP_*` variables (and TMPDIR); as the image's
/// unprivileged user when this test runs as root; listening on every
/// interface with a key. It links a session, answers `wasp healthcheck`
/// and `wasp qr`, logs JSON with a line per state change, exits 0 on
/// SIGTERM, and leaves its working and temporary directories empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_as_the_image_runs_it() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let cwd = root.path().join("cwd");
    let tmp = root.path().join("tmp");
    for dir in [&data, &cwd, &tmp] {
        std::fs::create_dir(dir).expect("dir");
    }
    let as_root = current_uid() == 0;
    if as_root {
        for path in [
            root.path().to_path_buf(),
            data.clone(),
            cwd.clone(),
            tmp.clone(),
        ] {
            std::os::unix::fs::chown(&path, Some(IMAGE_UID), Some(IMAGE_UID)).expect("chown");
        }
    }
    let key = "deploy-key-0123456789";
    let log = root.path().join("stderr.log");
    let mut command = if as_root {
        // setpriv (util-linux) drops to the image's user before exec.
        let mut c = Command::new("/usr/bin/setpriv");
        c.args([
            &format!("--reuid={IMAGE_UID}"),
            &format!("--regid={IMAGE_UID}"),
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_wasp"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_wasp"))
    };
    let mut serve = command
        .env_clear()
        .current_dir(&cwd)
        .env("WASP_LISTEN", "0.0.0.0:0")
        .env("WASP_DATA", &data)
        .env("WASP_API_KEY", key)
        .env("WASP_SIMULATE", "true")
        .env("WASP_SIM_LISTEN", "127.0.0.1:0")
        .env("WASP_LOG_FORMAT", "json")
        .env("WASP_LOG", "info")
        .env("WASP_SHUTDOWN_GRACE", "3s")
        .env("TMPDIR", &tmp)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("wasp serve starts");
    let guard = KillOnDrop(serve.id());
    let mut lines = BufReader::new(serve.stdout.take().expect("stdout")).lines();
    let mut value = |key: &str| {
        let line = lines.next().expect("a line").expect("readable");
        line.strip_prefix(&format!("{key}="))
            .unwrap_or_else(|| panic!("expected {key}=, got {line}"))
            .to_string()
    };
    let sim_url = value("sim_admin_url");
    let api_url = value("api_url");
    let port = api_url.rsplit(':').next().expect("a port").to_string();
    if as_root {
        assert_eq!(
            uid_of(serve.id()),
            Some(IMAGE_UID),
            "serve runs unprivileged"
        );
    }

    // The image's HEALTHCHECK: `wasp healthcheck` with the image's env.
    let listen = format!("0.0.0.0:{port}");
    let probe = wasp()
        .env("WASP_LISTEN", &listen)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let api = AdminClient::new(&format!("http://127.0.0.1:{port}")).expect("api url");
    let auth = format!("Bearer {key}");
    let auth = [("Authorization", auth.as_str())];
    let (status, _) = api.request("GET", "/v1/sessions", &[], None).await.unwrap();
    assert_eq!(status, 401, "the key from WASP_API_KEY is in force");
    let (status, page) = api.request("GET", "/", &[], None).await.unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("wasp dashboard"));

    let (status, _) = api
        .request("POST", "/v1/sessions", &auth, Some(br#"{"id":"ops"}"#))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let qr = poll(|| async {
        let (status, body) = api
            .request("GET", "/v1/sessions/ops/qr", &auth, None)
            .await
            .ok()?;
        let json: Value = serde_json::from_slice(&body).ok()?;
        (status == 200).then(|| json["qr"].as_str().map(String::from))?
    })
    .await;

    // `wasp qr` draws the code the server shows, and prints it.
    let drawn = wasp()
        .env("WASP_API_KEY", key)
        .args(["qr", "ops", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(
        drawn.status.success(),
        "{}",
        String::from_utf8_lossy(&drawn.stderr)
    );
    let drawn = String::from_utf8(drawn.stdout).unwrap();
    assert!(drawn.contains('█') && drawn.contains('▀'), "{drawn}");
    assert!(
        drawn.lines().any(|l| l == qr),
        "the code's text follows the drawing"
    );
    let refused = wasp()
        .args(["qr", "ops", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("API key"));

    let sim = AdminClient::new(&sim_url).expect("sim url");
    let phone = sim.create_phone().await.expect("phone");
    sim.scan(&phone, &qr).await.expect("linked");
    poll(|| async {
        let (_, body) = api
            .request("GET", "/v1/sessions/ops", &auth, None)
            .await
            .ok()?;
        let json: Value = serde_json::from_slice(&body).ok()?;
        (json["status"] == "connected").then_some(())
    })
    .await;

    // SIGTERM: a clean exit.
    let sent = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || serve.wait())
        .await
        .unwrap()
        .unwrap();
    std::mem::forget(guard);
    assert!(exit.success(), "exit status {exit}");
    let probe = wasp()
        .env("WASP_LISTEN", &listen)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "the health check fails once it is gone"
    );

    // JSON logs, one line per state change of the session.
    let logs = std::fs::read_to_string(&log).unwrap();
    let mut messages = Vec::new();
    for line in logs.lines() {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if json["session"] == "ops" {
            messages.push(json["message"].as_str().unwrap_or_default().to_string());
        }
    }
    for expected in [
        "session waiting for a QR scan",
        "session linked",
        "session connected",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} line in {messages:?}"
        );
    }

    // Written: only the data directory.
    assert_eq!(
        tree(&cwd),
        Vec::<PathBuf>::new(),
        "the working directory stays empty"
    );
    assert_eq!(tree(&tmp), Vec::<PathBuf>::new(), "TMPDIR stays empty");
    let written = tree(&data);
    assert!(
        written.iter().any(|p| p.ends_with("wasp.db")),
        "{written:?}"
    );
    assert!(written.iter().any(|p| p.ends_with("ops")), "{written:?}");
    if as_root {
        for path in &written {
            let meta = std::fs::metadata(path).unwrap();
            assert_eq!(
                meta.uid(),
                IMAGE_UID,
                "{} owned by the image's user",
                path.display()
            );
        }
    }
}

/// SIGKILL for a child left running by a failed assertion.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

/// Polls `check` every 50 ms until it gives a value (a hang guard, not a
/// timing assertion).
async fn poll<T, F: std::future::Future<Output = Option<T>>>(mut check: impl FnMut() -> F) -> T {
    let wait = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(GUARD, wait).await.expect("in time")
}
