//! What a destination keeps of the plan between `begin` and `commit`.
//!
//! Every destination needs the plan's layers by index (the pipeline asks for a sink by
//! index) and some state of its own (a staging directory, an open archive, manifests to
//! push). Asking for a layer before `begin`, or one the plan does not have, or committing
//! twice, are bugs of the pipeline, not problems of the image: [`PlanState`] says so
//! once, as [`TransportError::Internal`].

use crate::blob::BlobInfo;
use crate::destination::WritePlan;
use crate::error::{Result, TransportError};

/// The plan's layers and a destination's own state `S`, from `begin` to `commit`.
pub(crate) struct PlanState<S> {
    begun: Option<(Vec<BlobInfo>, S)>,
}

impl<S> Default for PlanState<S> {
    fn default() -> Self {
        PlanState { begun: None }
    }
}

impl<S> PlanState<S> {
    /// Records the plan's layers and the destination's state at `begin`.
    pub(crate) fn begin(&mut self, plan: &WritePlan, state: S) -> Result<()> {
        if self.begun.is_some() {
            return Err(TransportError::internal("destination begun twice"));
        }
        self.begun = Some((plan.layers.clone(), state));
        Ok(())
    }

    /// Layer `index` of the plan and the destination's state.
    pub(crate) fn layer(&self, index: usize) -> Result<(&BlobInfo, &S)> {
        let (layers, state) = self
            .begun
            .as_ref()
            .ok_or_else(|| TransportError::internal("layer sink asked for before begin"))?;
        let blob = layers
            .get(index)
            .ok_or_else(|| TransportError::internal(format!("no layer {index} in the plan")))?;
        Ok((blob, state))
    }

    /// The destination's state between `begin` and `commit`.
    pub(crate) fn state(&self) -> Result<&S> {
        self.begun
            .as_ref()
            .map(|(_, state)| state)
            .ok_or_else(|| TransportError::internal("destination used before begin"))
    }

    /// Takes the layers and the state to commit; an error before `begin` or when taken
    /// already.
    pub(crate) fn take(&mut self) -> Result<(Vec<BlobInfo>, S)> {
        self.begun
            .take()
            .ok_or_else(|| TransportError::internal("commit before begin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> WritePlan {
        let digest = skiff_oci::Digest::sha256(b"x");
        WritePlan {
            documents: Vec::new(),
            layers: vec![BlobInfo {
                digest: digest.clone(),
                size: 1,
                media_type: String::new(),
            }],
            top: oci_spec::image::DescriptorBuilder::default()
                .media_type("application/vnd.oci.image.manifest.v1+json")
                .digest(oci_spec::image::Digest::from(&digest))
                .size(1u64)
                .build()
                .unwrap(),
        }
    }

    #[test]
    fn misuse_is_a_bug_not_a_corrupt_image() {
        let mut s = PlanState::<u8>::default();
        assert!(matches!(s.layer(0), Err(TransportError::Internal(_))));
        assert!(matches!(s.take(), Err(TransportError::Internal(_))));
        s.begin(&plan(), 7).unwrap();
        assert!(matches!(
            s.begin(&plan(), 8),
            Err(TransportError::Internal(_))
        ));
        assert_eq!(*s.layer(0).unwrap().1, 7);
        let e = s.layer(1).err().unwrap();
        assert_eq!(
            e.to_string(),
            "internal error (a bug in skiff, please report it): no layer 1 in the plan"
        );
        assert_eq!(s.take().unwrap().1, 7);
        assert!(matches!(s.take(), Err(TransportError::Internal(_))));
    }
}
