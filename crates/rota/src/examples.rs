//! The example apps that `rota dev --examples` loads, built into the binary so that they
//! work from any directory.

use anyhow::Result;

use rota_client::{Client, ClientError};

/// The examples, by file name.
const EXAMPLES: [(&str, &str); 4] = [
    ("hello.json", include_str!("../../../examples/hello.json")),
    ("report.json", include_str!("../../../examples/report.json")),
    ("flaky.json", include_str!("../../../examples/flaky.json")),
    ("slow.json", include_str!("../../../examples/slow.json")),
];

/// Adds and starts each example that is not there yet.
pub async fn load(client: &Client) -> Result<()> {
    for (file, json) in EXAMPLES {
        let app = match client.add(json.as_bytes().to_vec()).await {
            Ok(view) => view.spec.key(),
            Err(ClientError::Refused { code, .. }) if code == "app_exists" => continue,
            Err(e) => return Err(anyhow::anyhow!("example {file}: {e}")),
        };
        client.start(&app).await?;
        tracing::info!(%app, "example started");
    }
    Ok(())
}
