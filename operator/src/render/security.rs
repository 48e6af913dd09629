//! The security contexts every rendered pod and container get, serving, gateway, fetch
//! and training alike (restricted Pod Security Standard): one definition, so no renderer
//! can drift from it.

use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SeccompProfile, SecurityContext};

/// The image's unprivileged user and group (distroless `nonroot`).
const RUN_AS: i64 = 65532;

/// Security context of every container: non-root, read-only root filesystem, no
/// privilege escalation, no capabilities, the runtime's default seccomp profile.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_string()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_string(), localhost_profile: None }),
        ..Default::default()
    }
}

/// Security context of every pod the operator renders (serving and gateway alike): the
/// image's unprivileged user and group, volumes group-owned by it, the runtime's default
/// seccomp profile.
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_string(), localhost_profile: None }),
        ..Default::default()
    }
}
