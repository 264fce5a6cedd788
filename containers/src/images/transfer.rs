//! Copying an image from one engine to another without a registry: `docker save` on the source
//! streamed into `docker load` on the target, through the engines' APIs. How a batch across
//! engines gets an image onto an engine that does not have it, when another one does.

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::StreamExt;

use super::image_id;
use crate::error::{ContainerError, Result};

/// Copies `tag` from `from` to `to` (all its layers, with its tag). Returns whether anything was
/// copied (false when `to` already has it).
pub async fn transfer(from: &Docker, to: &Docker, tag: &str) -> Result<bool> {
    if image_id(to, tag).await?.is_some() {
        return Ok(false);
    }
    if image_id(from, tag).await?.is_none() {
        return Err(ContainerError::ImageMissing(format!(
            "image `{tag}` is not on the engine it was to be copied from"
        )));
    }
    let saved = from.export_image(tag);
    let options = ImportImageOptionsBuilder::new().quiet(true).build();
    let mut loading = to.import_image_stream(options, saved, None);
    while let Some(item) = loading.next().await {
        let info = item.map_err(|e| ContainerError::engine(format!("loading image {tag}"), e))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(ContainerError::Engine {
                context: format!("loading image {tag}"),
                message: error,
            });
        }
    }
    if image_id(to, tag).await?.is_none() {
        return Err(ContainerError::Engine {
            context: format!("loading image {tag}"),
            message: "the engine accepted the archive but does not list the image".into(),
        });
    }
    Ok(true)
}
