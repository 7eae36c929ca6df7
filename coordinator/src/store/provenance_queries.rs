//! The provenance audit's multiple-choice fingerprint read back: the answers to the
//! probes of kinds `probe:mc_choice` and `probe:mc_first_token` (the built-in bank and
//! the persona slices, see `planner::provenance`), with what grading them again needs.

use super::*;
use crate::audit::ProvenanceMcRow;

impl Store {
    /// Answers to the multiple-choice fingerprint of a run.
    ///
    /// # Errors
    /// Database errors; a stored kind or outcome this build does not know.
    pub async fn provenance_mc_rows(
        &self,
        run_id: &str,
    ) -> Result<Vec<ProvenanceMcRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProvenanceMcRow>(
            "SELECT i.endpoint, i.kind, i.subject, i.category, i.item_id, i.repeat_index, i.gold,
                    i.options_json, r.outcome, r.response_text, r.finish_reason, r.logprobs_json
             FROM results r JOIN items i ON i.run_id = r.run_id AND i.endpoint = r.endpoint
                AND i.item_key = r.item_key AND i.repeat_index = r.repeat_index
             WHERE r.run_id = $1 AND (i.kind = $2 OR i.kind = $3)
             ORDER BY i.endpoint, i.subject, i.category, i.item_id, i.repeat_index",
        )
        .bind(run_id)
        .bind(ItemKind::Probe(ProbeKind::McChoice).name())
        .bind(ItemKind::Probe(ProbeKind::McFirstToken).name())
        .fetch_all(&self.pool)
        .await?)
    }
}
