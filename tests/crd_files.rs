//! The CRDs shipped in the Helm chart must be exactly what the code generates.

#[test]
fn chart_crds_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/netgpt/crds");
    let crds = netgpt_crds::all_crds();
    for crd in &crds {
        let path = dir.join(netgpt_crds::crd_file_name(crd));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = netgpt_crds::crd_yaml(crd).expect("CRD serializes");
        assert!(
            on_disk == generated,
            "{} is stale: run `cargo run -- crd --output-dir charts/netgpt/crds`",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, crds.len(), "charts/netgpt/crds holds files that are not generated CRDs");
}
