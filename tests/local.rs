//! The main job end to end: `netgpt local` on the default example with the real SmolLM2
//! model, a concise prompt at both sites, over real HTTP.

use std::process::Command;

#[test]
fn netgpt_local_completes_prompts_with_each_sites_location() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netgpt-local.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_netgpt"))
        .args(["local", "-f", example.to_str().expect("utf-8"), "--demo", "Where can I get a good dinner tonight?"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("netgpt local runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "netgpt local failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // One block per site: "=== site <name> (<place>)" then the completed prompt and path.
    let blocks: Vec<&str> = stdout.split("=== site ").skip(1).collect();
    assert_eq!(blocks.len(), 2, "two sites answered:\n{stdout}");
    for (site, area) in [("pudong", "Pudong"), ("xuhui", "Xu")] {
        let block =
            blocks.iter().find(|b| b.starts_with(site)).unwrap_or_else(|| panic!("no block for {site}:\n{stdout}"));
        let completed =
            block.lines().find_map(|l| l.strip_prefix("completed prompt : ")).expect("completed prompt line");
        assert!(completed.contains(area), "{site}: completion lacks its area {area:?}: {completed}");
        let path = block.lines().find_map(|l| l.strip_prefix("path             : ")).expect("path line");
        assert!(["edge", "cloud", "edge-fallback"].iter().any(|p| path.starts_with(p)), "{path}");
        let answer = block.lines().find_map(|l| l.strip_prefix("answer           : ")).expect("answer line");
        assert!(!answer.trim().is_empty(), "{site} got an empty answer");
    }
    let completions: Vec<&str> =
        blocks.iter().filter_map(|b| b.lines().find_map(|l| l.strip_prefix("completed prompt : "))).collect();
    assert_ne!(completions[0], completions[1], "the two sites' completions differ by location");
}
