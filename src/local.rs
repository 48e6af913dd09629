//! `netgpt local -f <manifests>`: a whole NetGPT deployment on one machine, without a
//! cluster. Reads the same EdgeLLM / CloudLLM / LogicalAIWorkflow manifests, validates
//! and renders them with the operator's code, starts the model servers (one per distinct
//! model file and served name, so edge and cloud share a loaded model when the manifests
//! say so), a desensitizer and a gateway per site, all on loopback.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use kube::ResourceExt;
use netgpt_crds::{AdapterSpec, ArtifactSource, CloudLLM, EdgeLLM, LogicalAIWorkflow, ModelSpec, ServingLimits};
use netgpt_desensitizer::proxy::{SidecarSettings, start as start_sidecar};
use netgpt_gateway::start as start_gateway;
use netgpt_inference::{RunningServer, ServeArgs, ServerSettings, start as start_server};
use netgpt_operator::render::workflow::{validate_steps, workflow_config};
use netgpt_operator::render::{ResolvedPaths, serving_config};
use netgpt_operator::validate::{validate_cloud, validate_edge};

/// Options of `netgpt local`.
#[derive(clap::Args, Debug)]
pub struct LocalArgs {
    /// Manifest files (multi-document YAML) with EdgeLLM, CloudLLM and LogicalAIWorkflow.
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Send this concise prompt to every site, print what happened, and exit.
    #[arg(long, value_name = "PROMPT")]
    pub demo: Option<String>,
    /// First gateway port (one per site, counting up); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub gateway_port: u16,
    /// Compute threads per model server (default: the cores available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Prompt-prefix cache per model server, in MiB (`netgpt serve`'s flag; 0: off).
    #[arg(long, value_name = "MIB", env = "NETGPT_PREFIX_CACHE_MIB")]
    pub prefix_cache_mib: Option<usize>,
}

/// Everything the manifests declare.
#[derive(Default)]
struct Manifests {
    edges: BTreeMap<String, EdgeLLM>,
    clouds: BTreeMap<String, CloudLLM>,
    workflows: Vec<LogicalAIWorkflow>,
}

fn read_manifests(files: &[PathBuf]) -> anyhow::Result<Manifests> {
    let mut out = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .with_context(|| format!("{}: document {} is not valid YAML", file.display(), i + 1))?;
            if value.is_null() {
                continue;
            }
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let at = || format!("{}: document {} ({kind})", file.display(), i + 1);
            match kind.as_str() {
                "EdgeLLM" => {
                    let e: EdgeLLM = serde_json::from_value(value).with_context(at)?;
                    out.edges.insert(e.name_any(), e);
                }
                "CloudLLM" => {
                    let c: CloudLLM = serde_json::from_value(value).with_context(at)?;
                    out.clouds.insert(c.name_any(), c);
                }
                "LogicalAIWorkflow" => out.workflows.push(serde_json::from_value(value).with_context(at)?),
                other => bail!("{}: unsupported kind {other:?}", at()),
            }
        }
    }
    Ok(out)
}

/// Where a `file://` source is on this machine: the path itself, else the same file name
/// in the model cache (the local stand-in for files pre-staged on nodes); the default
/// model is pulled into the cache on first use.
fn resolve(source: &ArtifactSource, field: &str) -> anyhow::Result<PathBuf> {
    let path = source
        .uri
        .strip_prefix("file://")
        .or_else(|| source.uri.strip_prefix("hostpath://"))
        .ok_or_else(|| anyhow!("{field}: netgpt local reads file:// sources only, got {:?}", source.uri))?;
    let path = PathBuf::from(path);
    if path.exists() {
        return Ok(path);
    }
    let name = path.file_name().ok_or_else(|| anyhow!("{field}: {:?} has no file name", source.uri))?;
    let cached = netgpt_runtime::model_store::default_model_path()?.with_file_name(name);
    if cached.exists() {
        return Ok(cached);
    }
    if cached == netgpt_runtime::model_store::default_model_path()? {
        eprintln!("netgpt local: fetching the default model (SmolLM2-135M-Instruct) into {}", cached.display());
        return Ok(netgpt_inference::ensure_default_model()?);
    }
    bail!("{field}: {} does not exist (nor {})", path.display(), cached.display())
}

/// A model server shared by every manifest naming the same file and served name.
struct ModelServer {
    server: RunningServer,
    url: String,
    /// Names of the adapters it loaded at start.
    adapters: Vec<String>,
}

/// `netgpt local`'s flags that every model server it starts takes.
#[derive(Clone, Copy)]
struct ServerKnobs {
    threads: Option<usize>,
    prefix_cache_mib: Option<usize>,
}

async fn model_server(
    servers: &mut BTreeMap<(PathBuf, String), ModelServer>,
    model: &ModelSpec,
    served: &str,
    limits: Option<&ServingLimits>,
    knobs: ServerKnobs,
    adapters: &[AdapterSpec],
    dir: &Path,
) -> anyhow::Result<String> {
    let field = "spec.model";
    let path = resolve(&model.source, &format!("{field}.source.uri"))?;
    let key = (path.clone(), served.to_string());
    let mut resolved = Vec::new();
    for (i, adapter) in adapters.iter().enumerate() {
        let dir = resolve(&adapter.source, &format!("spec.adapters[{i}].source.uri"))?;
        resolved.push((adapter.name.clone(), dir.to_string_lossy().into_owned()));
    }
    if let Some(s) = servers.get(&key) {
        // One server per file and name: a second resource sharing it cannot bring adapters
        // the first did not (the first one's are loaded at start).
        if let Some((name, _)) = resolved.iter().find(|(name, _)| !s.adapters.contains(name)) {
            bail!(
                "{field}: adapter {name:?} would join a model server another resource already started; give the model its own servedName"
            );
        }
        return Ok(s.url.clone());
    }
    let tokenizer = model
        .tokenizer
        .as_ref()
        .map(|t| resolve(t, &format!("{field}.tokenizer.uri")))
        .transpose()?
        .map(|p| p.to_string_lossy().into_owned());
    let adapter_names = resolved.iter().map(|(name, _)| name.clone()).collect();
    let paths = ResolvedPaths { model: path.to_string_lossy().into_owned(), tokenizer, adapters: resolved };
    // `netgpt local` serves on this machine's CPU.
    let config = serving_config(model, served, paths, None, limits, netgpt_crds::ServingDevice::Cpu);
    let config_path = dir.join(format!("serving-{}.yaml", servers.len()));
    std::fs::write(&config_path, config.to_yaml()?).with_context(|| format!("writing {}", config_path.display()))?;
    let args = ServeArgs {
        config: Some(config_path),
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        threads: knobs.threads,
        max_body_bytes: 1 << 20,
        step_token_budget: 256,
        prefix_cache_mib: knobs.prefix_cache_mib,
        ..Default::default()
    };
    let settings = ServerSettings::from_args(&args)?;
    let mut server = start_server(settings).await?;
    let url = format!("http://{}", server.addr);
    wait_with_progress(&format!("loading {} ({})", served, path.display()), server.wait_loaded()).await?;
    servers.insert(key, ModelServer { server, url: url.clone(), adapters: adapter_names });
    Ok(url)
}

/// Awaits `fut`, showing a spinner with the elapsed time on stderr.
async fn wait_with_progress<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let spinner = async {
        let frames = ['|', '/', '-', '\\'];
        let mut i = 0;
        loop {
            eprint!("\r{} {what} {:.1}s", frames[i % 4], started.elapsed().as_secs_f64());
            let _ = std::io::stderr().flush();
            i += 1;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    };
    let result = tokio::select! {
        r = fut => r,
        _ = spinner => unreachable!("the spinner never ends"),
    };
    eprintln!("\r✓ {what} {:.1}s   ", started.elapsed().as_secs_f64());
    result
}

/// A running site: its gateway URL and what the demo prints about it.
struct Site {
    workflow: String,
    name: String,
    place: String,
    url: String,
}

pub fn run(args: LocalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: LocalArgs) -> anyhow::Result<()> {
    let manifests = read_manifests(&args.files)?;
    if manifests.workflows.is_empty() {
        bail!("the manifests declare no LogicalAIWorkflow");
    }
    // The operator's validation, so local and cluster refuse the same specs.
    let mut errors = Vec::new();
    for (name, e) in &manifests.edges {
        errors.extend(validate_edge(name, &e.spec, &[]).into_iter().map(|e| format!("EdgeLLM {name}: {e}")));
    }
    for (name, c) in &manifests.clouds {
        errors.extend(validate_cloud(name, &c.spec, &[]).into_iter().map(|e| format!("CloudLLM {name}: {e}")));
    }
    for wf in &manifests.workflows {
        errors.extend(validate_steps(wf).into_iter().map(|e| format!("LogicalAIWorkflow {}: {e}", wf.name_any())));
    }
    if !errors.is_empty() {
        bail!("invalid manifests:\n  {}", errors.join("\n  "));
    }

    let dir = std::env::temp_dir().join(format!("netgpt-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut servers = BTreeMap::new();
    let mut sidecars = Vec::new();
    let mut gateways = Vec::new();
    let mut sites = Vec::new();
    let mut port = args.gateway_port;
    for wf in &manifests.workflows {
        let wf_name = wf.name_any();
        let edge = manifests.edges.get(&wf.spec.edge_ref.name).ok_or_else(|| {
            anyhow!("LogicalAIWorkflow {wf_name}: spec.edgeRef.name: no EdgeLLM {:?}", wf.spec.edge_ref.name)
        })?;
        let cloud = manifests.clouds.get(&wf.spec.cloud_ref.name).ok_or_else(|| {
            anyhow!("LogicalAIWorkflow {wf_name}: spec.cloudRef.name: no CloudLLM {:?}", wf.spec.cloud_ref.name)
        })?;
        for site in edge.spec.sites.iter().filter(|s| s.train_adapter) {
            // Training is the operator's (a Job per site); locally the three commands do it.
            eprintln!(
                "netgpt local: site {} asks for a trained adapter; it serves the base model here. Train one with \
                 `netgpt dataset generate` and `netgpt train lora` (docs/adapters.md) and name it in spec.adapters",
                site.name
            );
        }
        let knobs = ServerKnobs { threads: args.threads, prefix_cache_mib: args.prefix_cache_mib };
        let edge_served = edge.spec.model.served_name.clone().unwrap_or_else(|| edge.name_any());
        let cloud_served = cloud.spec.model.served_name.clone().unwrap_or_else(|| cloud.name_any());
        let edge_url = model_server(
            &mut servers,
            &edge.spec.model,
            &edge_served,
            edge.spec.serving.as_ref(),
            knobs,
            &edge.spec.adapters,
            &dir,
        )
        .await?;
        let cloud_url = model_server(
            &mut servers,
            &cloud.spec.model,
            &cloud_served,
            cloud.spec.serving.as_ref(),
            knobs,
            &cloud.spec.adapters,
            &dir,
        )
        .await?;
        let pii_model = tokio::task::spawn_blocking(|| {
            netgpt_inference::pull_model(netgpt_runtime::model_store::PII_MODEL_ALIAS, &mut |line| {
                eprintln!("netgpt local: {line}")
            })
        })
        .await??;
        for site in &edge.spec.sites {
            let mut config = workflow_config(wf, edge, cloud, &site.name, edge_url.clone(), cloud_url.clone())
                .ok_or_else(|| anyhow!("site {} vanished", site.name))?;
            let mut sidecar_settings = SidecarSettings::new(cloud_url.clone(), wf.spec.desensitization.clone());
            sidecar_settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            // The learned PII stage, fetched like the default model on first use (as the
            // image ships it to the cluster's sidecars).
            sidecar_settings.pii_model = Some(pii_model.clone());
            sidecar_settings.site_places = site.location.place_name.clone().into_iter().collect();
            let sidecar = start_sidecar(sidecar_settings).await?;
            config.desensitizer_url = format!("http://{}", sidecar.addr);
            sidecars.push(sidecar);
            let listen = SocketAddr::from(([127, 0, 0, 1], port));
            let gateway = start_gateway(config, listen).await?;
            sites.push(Site {
                workflow: wf_name.clone(),
                name: site.name.clone(),
                place: site.location.place_name.clone().unwrap_or_default(),
                url: format!("http://{}", gateway.addr),
            });
            gateways.push(gateway);
            if port != 0 {
                port = port.saturating_add(1);
            }
        }
    }

    println!("NetGPT is running locally. Gateways (OpenAI-compatible, POST /v1/chat/completions):");
    for s in &sites {
        println!("  {}/{}  {}  {}", s.workflow, s.name, s.url, s.place);
    }

    match &args.demo {
        Some(prompt) => demo(&sites, prompt).await?,
        None => {
            println!("Press Ctrl-C to stop.");
            tokio::signal::ctrl_c().await?;
        }
    }
    for g in gateways {
        g.shutdown().await;
    }
    for s in sidecars {
        let _ = s.shutdown().await;
    }
    for (_, s) in servers {
        let _ = s.server.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Sends `prompt` to every site and prints the completed prompt, the path and the answer.
async fn demo(sites: &[Site], prompt: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for s in sites {
        let body = serde_json::json!({
            "model": "netgpt",
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "max_tokens": 96,
        });
        let started = Instant::now();
        let response = client
            .post(format!("{}/v1/chat/completions", s.url))
            .header("x-netgpt-debug", "true")
            .json(&body)
            .send()
            .await
            .with_context(|| format!("calling the {} gateway", s.name))?;
        let status = response.status();
        let v: serde_json::Value = response.json().await?;
        if !status.is_success() {
            bail!("site {}: gateway answered {status}: {v}", s.name);
        }
        let meta = &v["netgpt"];
        println!("\n=== site {} ({}) — {:.1}s", s.name, s.place, started.elapsed().as_secs_f64());
        println!("concise prompt   : {prompt}");
        println!("completed prompt : {}", meta["completedPrompt"].as_str().unwrap_or("-"));
        println!(
            "path             : {} (edge confidence {})",
            meta["path"].as_str().unwrap_or("?"),
            meta["confidence"].as_f64().map_or("n/a".to_string(), |c| format!("{c:.3}"))
        );
        if let Some(reason) = meta["fallbackReason"].as_str() {
            println!("fallback reason  : {reason}");
        }
        println!("answer           : {}", v["choices"][0]["message"]["content"].as_str().unwrap_or("").trim());
    }
    Ok(())
}
