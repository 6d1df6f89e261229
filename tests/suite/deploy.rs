//! `make deploy`: no questions, the parameters `make deploy-guided` saved, and the architecture
//! `make build` built (whatever the saved one says). Run against a stand-in `sam` that prints
//! its arguments.

use std::path::Path;
use std::process::Command;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A directory shaped like the repository for `infra/tools/deploy.sh`: the script, a `.venv`
/// whose `python` is the machine's and whose `sam` echoes its arguments, one per line.
fn stage(dir: &Path, samconfig: Option<&str>, built: Option<&str>) {
    std::fs::create_dir_all(dir.join("infra/tools")).unwrap();
    std::fs::create_dir_all(dir.join(".venv/bin")).unwrap();
    std::fs::create_dir_all(dir.join("target/lambda")).unwrap();
    std::fs::copy(workspace().join("infra/tools/deploy.sh"), dir.join("infra/tools/deploy.sh")).unwrap();
    let python = ["python3.13", "python3.12", "python3.11", "python3"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .expect("a python3");
    std::os::unix::fs::symlink(python, dir.join(".venv/bin/python")).unwrap();
    let sam = dir.join(".venv/bin/sam");
    std::fs::write(&sam, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n").unwrap();
    Command::new("chmod").arg("+x").arg(&sam).status().unwrap();
    if let Some(config) = samconfig {
        std::fs::write(dir.join("samconfig.toml"), config).unwrap();
    }
    if let Some(arch) = built {
        std::fs::write(dir.join("target/lambda/ARCH"), format!("{arch}\n")).unwrap();
    }
}

fn run(dir: &Path) -> (i32, String, String) {
    let out = Command::new("bash").arg(dir.join("infra/tools/deploy.sh")).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

const SAVED: &str = r#"version = 0.1
[default.deploy.parameters]
stack_name = "learners"
resolve_s3 = true
parameter_overrides = "Architecture=\"x86_64\" SiteUrl=\"https://learn.example.org\" SiteName=\"My School\" MailFrom=\"no-reply@learn.example.org\""
"#;

#[test]
fn make_deploy_uses_the_saved_parameters_and_the_built_architecture() {
    let dir = std::env::temp_dir().join(learners_tests::unique("deploy-"));
    stage(&dir, Some(SAVED), Some("arm64"));
    let (code, out, err) = run(&dir);
    assert_eq!(code, 0, "{err}");
    for expected in ["[--no-confirm-changeset]", "[--template-file]", "[template.yaml]"] {
        assert!(out.contains(expected), "{out}");
    }
    assert!(!out.contains("--guided"), "{out}");
    let overrides = out.lines().skip_while(|l| *l != "[--parameter-overrides]").nth(1).expect("overrides");
    assert!(overrides.contains(r#"SiteName="My School""#), "{overrides}");
    assert!(overrides.contains(r#"Architecture="arm64""#) && !overrides.contains("x86_64"), "{overrides}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn make_deploy_refuses_before_a_guided_deploy_or_a_build() {
    let dir = std::env::temp_dir().join(learners_tests::unique("deploy-"));
    stage(&dir, None, Some("arm64"));
    let (code, _, err) = run(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("make deploy-guided"), "{err}");
    std::fs::write(dir.join("samconfig.toml"), SAVED).unwrap();
    std::fs::remove_file(dir.join("target/lambda/ARCH")).unwrap();
    let (code, _, err) = run(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("make build"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
