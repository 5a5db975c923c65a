//! `kvm-clone profiles`: lists the built-in and user profiles. Needs no host.

use color_eyre::eyre::{Result, eyre};
use kvm_clone::config::profile;
use kvm_clone::headless;

pub fn profiles(json: bool) -> Result<()> {
    let dir = profile::user_profile_dir();
    // The error names the file, line and reason.
    let all = profile::load_profiles(dir.as_deref()).map_err(|e| eyre!("{e}"))?;
    if json {
        println!("{}", headless::profiles::render_json(&all)?);
    } else {
        print!("{}", headless::profiles::render_table(&all));
    }
    Ok(())
}
