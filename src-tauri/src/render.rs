//! Rendering defaults for a machine without a GPU (issue 6: the app's
//! resident memory ≤ 150 MB).
//!
//! Without a DRM render node, Mesa can only draw in software (llvmpipe),
//! yet GTK and WebKitGTK still open a GL display in the app's own process
//! just to find out what it can do: GTK's GLX set-up at display open and
//! WebKit's EGL probes each load Mesa's driver, which links libLLVM —
//! about 50 MiB resident, a third of the app. On such
//! a machine WebKit's GL compositing would run on the CPU anyway, so the
//! app asks for WebKit's non-composited mode and keeps GL out of its
//! process. A device with a GPU driver has a render node and is left
//! exactly as GTK and WebKit configure themselves.
//!
//! It must never override what the user set: if any of the variables is
//! already in the environment, none is set (the user is tuning rendering
//! themselves), and `SOFTPOS_KEEP_GL=1` turns the defaults off.

use std::path::Path;

/// The variables, and why each is needed (WebKitGTK 2.50, GTK 3, X11).
pub const SOFTWARE_DEFAULTS: [(&str, &str); 4] = [
    // GTK initialises GLX when it opens the X display, which loads Mesa.
    ("GDK_GL", "disable"),
    // WebKit's documented switch for the mode we want, so the outcome does
    // not rest on how WebKit reacts to GTK's GL being off.
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    // Skips WebKit's probe for DMA-BUF rendering, which opens an EGL
    // display (GBM, else surfaceless) in this process.
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
    // WebKit looks up the render node to hand to its web process through
    // an EGL display too, unless told which one it is. There is none (that
    // is the condition), so this names one that does not exist: the web
    // process ends up without a GBM device, as it would anyway.
    ("WEBKIT_WEB_RENDER_DEVICE_FILE", "/dev/dri/renderD128"),
];

/// Turns the defaults off when set to anything but "0" or empty.
pub const OPT_OUT: &str = "SOFTPOS_KEEP_GL";

/// Whether `dri` (normally `/dev/dri`) holds a DRM render node, i.e.
/// whether Mesa could use a GPU driver.
pub fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

/// The variables to set, given whether a render node exists and what the
/// environment holds (`get(name)`).
pub fn defaults_to_set(
    render_node: bool,
    get: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, &'static str)> {
    let opted_out = get(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0");
    if render_node || opted_out || SOFTWARE_DEFAULTS.iter().any(|(k, _)| get(k).is_some()) {
        return Vec::new();
    }
    SOFTWARE_DEFAULTS.to_vec()
}

/// Sets the defaults in this process's environment (WebKit's helper
/// processes inherit it). Must run before GTK is initialised and before
/// any other thread starts: `run()` calls it first.
pub fn apply_software_defaults() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let vars = defaults_to_set(has_render_node(Path::new("/dev/dri")), |k| {
        std::env::var(k).ok()
    });
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn no_render_node_gets_all_four() {
        let set = defaults_to_set(false, env(&[("DISPLAY", ":0")]));
        assert_eq!(set, SOFTWARE_DEFAULTS.to_vec());
    }

    #[test]
    fn a_gpu_is_left_alone() {
        assert!(defaults_to_set(true, env(&[])).is_empty());
    }

    #[test]
    fn any_variable_set_by_the_user_leaves_all_alone() {
        for (k, _) in SOFTWARE_DEFAULTS {
            assert!(defaults_to_set(false, env(&[(k, "0")])).is_empty(), "{k}");
        }
    }

    #[test]
    fn opt_out() {
        assert!(defaults_to_set(false, env(&[(OPT_OUT, "1")])).is_empty());
        // "0" or empty is not an opt-out.
        assert_eq!(defaults_to_set(false, env(&[(OPT_OUT, "0")])).len(), 4);
        assert_eq!(defaults_to_set(false, env(&[(OPT_OUT, "")])).len(), 4);
    }

    #[test]
    fn render_nodes_are_found_by_name() {
        let dir = std::env::temp_dir().join(format!("softpos-dri-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!has_render_node(&dir), "missing directory");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("card0"), b"").unwrap();
        assert!(
            !has_render_node(&dir),
            "a KMS node alone is not a render node"
        );
        std::fs::write(dir.join("renderD128"), b"").unwrap();
        assert!(has_render_node(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
