// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Benchmark: hard stop of 100 StatefulSets and quarantine of 1,000 pods on the real test
//! kube-apiserver, `quell` (the real binary) against a loop of `kubectl` calls doing the same.
//!
//!   scripts/services/kube.sh start && eval "$(scripts/services/kube.sh env | sed 's/^/export /')"
//!   cargo build --release --bins --example kube_bench
//!   target/release/examples/kube_bench [STATEFULSETS] [PODS]
//!
//! Each side starts from the same state: quell hard-stops, then restores, then the kubectl loop
//! hard-stops the same sets (annotate the replica count, then scale to 0: what quell does);
//! quell quarantines the pods, releases them, then the kubectl loop labels the same pods. Also
//! shown: kubectl with every name in one call, which a user could do when they have the names.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use quell::adapters::embedded::EmbeddedStore;
use quell::model::session::Session;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

fn need(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        eprintln!("{var} is not set: run scripts/services/kube.sh start and export its `env` lines");
        std::process::exit(2)
    })
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn quell_bin() -> Res<PathBuf> {
    let me = std::env::current_exe()?;
    // target/<profile>/examples/kube_bench -> target/<profile>/quell
    me.parent()
        .and_then(Path::parent)
        .map(|d| d.join("quell"))
        .filter(|q| q.exists())
        .ok_or_else(|| "build the quell binary first: cargo build --release --bins".into())
}

fn run(cmd: &mut Command) -> Res<Duration> {
    let t = Instant::now();
    let out = cmd.output().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        let shown: Vec<_> = cmd.get_args().take(8).collect();
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{:?} {shown:?} … failed: {}", cmd.get_program(), err.trim()).into());
    }
    Ok(t.elapsed())
}

fn kubectl(kc: &str) -> Command {
    let mut c = Command::new("kubectl");
    c.args(["--kubeconfig", kc, "--context", "quell-admin"]);
    c
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let n_sets: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let n_pods: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let kc = need("QUELL_TEST_KUBECONFIG");
    let quell = quell_bin()?;

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = {
        let k = kube::config::Kubeconfig::read_from(&kc)?;
        let o = kube::config::KubeConfigOptions { context: Some("quell-admin".into()), ..Default::default() };
        let cfg = rt.block_on(kube::Config::from_custom_kubeconfig(k, &o))?;
        let _g = rt.enter();
        kube::Client::try_from(cfg)?
    };
    let mut tag = [0u8; 3];
    getrandom::fill(&mut tag).map_err(|e| format!("random: {e}"))?;
    let ns_stop = format!("bench-stop-{}", hex::encode(tag));
    let ns_quar = format!("bench-quar-{}", hex::encode(tag));
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("quell.db");
    let db_arg = db.to_str().ok_or("the temporary directory's path is not UTF-8")?.to_owned();
    let stores = EmbeddedStore::open(&db)?.stores();

    println!("setting up {n_sets} StatefulSets (2 replicas, pod -0 each) and {n_pods} pods …");
    let setup = Instant::now();
    let mut sessions = Vec::new();
    rt.block_on(async {
        use futures_util::StreamExt;
        for ns in [&ns_stop, &ns_quar] {
            let nsobj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
            Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &nsobj).await?;
        }
        let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns_stop);
        let pod_stop: Api<Pod> = Api::namespaced(client.clone(), &ns_stop);
        let pod_quar: Api<Pod> = Api::namespaced(client.clone(), &ns_quar);
        let made: Vec<Res<()>> = futures_util::stream::iter(0..n_sets)
            .map(|i| {
                let (sts_api, pod_stop) = (sts_api.clone(), pod_stop.clone());
                async move {
                    let name = format!("agents-{i:03}");
                    let s: StatefulSet = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
                        "replicas": 2, "selector": {"matchLabels": {"app": "ai-agent-runtime", "set": name}},
                        "template": {"metadata": {"labels": {"app": "ai-agent-runtime", "set": name}},
                            "spec": {"containers": [{"name": "a", "image": "a"}]}}}}))?;
                    let s = sts_api.create(&PostParams::default(), &s).await?;
                    let p: Pod = serde_json::from_value(json!({"metadata": {"name": format!("{name}-0"),
                        "labels": {"app": "ai-agent-runtime"}, "ownerReferences": [{"apiVersion": "apps/v1",
                        "kind": "StatefulSet", "name": name, "uid": s.metadata.uid, "controller": true}]},
                        "spec": {"containers": [{"name": "a", "image": "a"}]}}))?;
                    pod_stop.create(&PostParams::default(), &p).await?;
                    Ok(())
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        made.into_iter().collect::<Res<Vec<()>>>()?;
        let made: Vec<Res<()>> = futures_util::stream::iter(0..n_pods)
            .map(|i| {
                let pod_quar = pod_quar.clone();
                async move {
                    let p: Pod = serde_json::from_value(json!({"metadata": {"name": format!("agent-{i:04}"),
                        "labels": {"app": "ai-agent-runtime"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}))?;
                    pod_quar.create(&PostParams::default(), &p).await?;
                    Ok(())
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        made.into_iter().collect::<Res<Vec<()>>>()?;
        Res::Ok(())
    })?;
    let now = quell::model::time::now();
    for i in 0..n_sets {
        let mut s = Session::new(format!("stop-{i:03}"), "bench", now);
        s.namespace = Some(ns_stop.clone().into());
        s.pod = Some(format!("agents-{i:03}-0").into());
        sessions.push(s);
    }
    for i in 0..n_pods {
        let mut s = Session::new(format!("quar-{i:04}"), "bench", now);
        s.namespace = Some(ns_quar.clone().into());
        s.pod = Some(format!("agent-{i:04}").into());
        sessions.push(s);
    }
    stores.sessions.put_sessions(&sessions)?;
    println!("setup took {:.1}s\n", setup.elapsed().as_secs_f64());

    let q = |args: &[&str]| {
        let mut c = Command::new(&quell);
        c.args(["--store", &db_arg, "--kubeconfig", &kc, "--context", "quell-admin"]).args(args);
        c.env("QUELL_CONFIG", "/dev/null");
        c
    };
    let sets: Vec<String> = (0..n_sets).map(|i| format!("agents-{i:03}")).collect();
    let pods: Vec<String> = (0..n_pods).map(|i| format!("agent-{i:04}")).collect();

    // ---- hard stop
    let sel_stop = format!("namespace={ns_stop}");
    let quell_stop = run(&mut q(&["hard-stop", "--where", &sel_stop, "--reason", "bench"]))?;
    run(&mut q(&["hard-stop", "--resume", "--where", &sel_stop, "--reason", "bench"]))?;
    let t = Instant::now();
    for s in &sets {
        run(kubectl(&kc).args([
            "-n",
            &ns_stop,
            "annotate",
            "statefulset",
            s,
            "quell.dev/replicas-before-hard-stop=2",
            "--overwrite",
        ]))?;
        run(kubectl(&kc).args(["-n", &ns_stop, "scale", "statefulset", s, "--replicas=0"]))?;
    }
    let loop_stop = t.elapsed();
    run(kubectl(&kc).args(["-n", &ns_stop, "scale", "statefulset", "--all", "--replicas=2"]))?;
    let mut one = kubectl(&kc);
    one.args(["-n", &ns_stop, "scale", "statefulset", "--replicas=0"]).args(&sets);
    let one_stop = run(&mut one)?;

    // ---- quarantine
    let sel_quar = format!("namespace={ns_quar}");
    let quell_quar = run(&mut q(&["quarantine", "--where", &sel_quar, "--reason", "bench"]))?;
    let quell_rel = run(&mut q(&["release", "--where", &sel_quar, "--reason", "bench"]))?;
    let t = Instant::now();
    for p in &pods {
        run(kubectl(&kc).args(["-n", &ns_quar, "label", "pod", p, "quell.dev/quarantine=true", "--overwrite"]))?;
    }
    let loop_quar = t.elapsed();
    run(kubectl(&kc).args(["-n", &ns_quar, "label", "pod", "--all", "quell.dev/quarantine-"]))?;
    let mut one = kubectl(&kc);
    one.args(["-n", &ns_quar, "label", "pod"]).args(&pods).args(["quell.dev/quarantine=true", "--overwrite"]);
    let one_quar = run(&mut one)?;

    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!("| task | quell | kubectl loop | ratio | kubectl, all names in one call |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| hard stop {n_sets} StatefulSets (remember replicas, scale to 0) | {} | {} ({} calls) | {:.1}× | {} (scale only) |",
        s(quell_stop),
        s(loop_stop),
        2 * n_sets,
        loop_stop.as_secs_f64() / quell_stop.as_secs_f64(),
        s(one_stop)
    );
    println!(
        "| quarantine {n_pods} pods (policy + label) | {} | {} ({} calls) | {:.1}× | {} |",
        s(quell_quar),
        s(loop_quar),
        n_pods,
        loop_quar.as_secs_f64() / quell_quar.as_secs_f64(),
        s(one_quar)
    );
    println!("(quell release of the {n_pods} pods: {})", s(quell_rel));
    println!(
        "\nquell times are the whole command (plan, RBAC review, act, audit record), {} requests in flight",
        quell::adapters::kubernetes::CONCURRENCY
    );
    println!("namespaces {ns_stop} and {ns_quar} are left in place (no namespace controller runs to delete them)");
    Ok(())
}
