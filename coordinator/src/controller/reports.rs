//! Reports: the rendered report of a run (with a comparison and a provenance section
//! when asked for) and an endpoint's fingerprint profile. The rendering itself is pure
//! and runs off the async workers; this part only gathers the rows.

use crate::audit;
use crate::error::CoordinatorError;
use crate::report::{self, ProvenanceReport, ReportFile};

use super::Controller;

impl Controller {
    /// # Errors
    /// Unknown run; store or aggregation errors.
    pub async fn render_report(&self, run_id: &str) -> Result<Vec<ReportFile>, CoordinatorError> {
        self.render_report_compared(run_id, None, &[]).await
    }

    /// The report of `run_id`; with `compare_with`, also `compare.md` and `compare.csv`;
    /// when the run collected provenance probes, a provenance section compared with the
    /// run's other endpoints and with `references` (fingerprint profiles as JSON).
    ///
    /// # Errors
    /// Unknown runs, invalid reference profiles; store or aggregation errors.
    pub async fn render_report_compared(
        &self,
        run_id: &str,
        compare_with: Option<&str>,
        references: &[String],
    ) -> Result<Vec<ReportFile>, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let other = match compare_with {
            Some(other_id) => {
                let other_record = self.run_record(other_id).await?;
                Some((other_record, self.store.scored_rows(other_id).await?))
            }
            None => None,
        };
        let references = audit::parse_references(references)?;
        let counts = self.store.run_counts(run_id).await?;
        let rows = self.store.scored_rows(run_id).await?;
        let probes = self.store.probe_rows(run_id).await?;
        let fingerprint = self.store.provenance_mc_rows(run_id).await?;
        let audit_rows = self.store.contamination_rows(run_id).await?;
        let spec = if probes.is_empty() {
            None
        } else {
            Some(self.spec_for(run_id).await?)
        };
        tokio::task::spawn_blocking(move || {
            let provenance = match spec {
                Some(spec) => {
                    let profiles = audit::build_profiles(
                        &spec,
                        &probes,
                        &rows,
                        &fingerprint,
                        &rfc3339_from_millis(record.created_at_ms),
                    );
                    let findings = audit::audit(&profiles, &references)?;
                    Some(ProvenanceReport {
                        markdown: audit::markdown_section(&findings),
                        findings_json: serde_json::to_vec_pretty(&findings)
                            .map_err(|error| CoordinatorError::Internal(error.to_string()))?,
                    })
                }
                None => None,
            };
            let mut files = report::render(&record, &counts, &rows, provenance.as_ref())?;
            if let Some(findings) = crate::contamination::findings(&rows, &audit_rows) {
                crate::contamination::attach(&mut files, &findings)?;
            }
            if let Some((other_record, other_rows)) = other {
                files.extend(crate::compare::render_comparison(
                    &other_record,
                    &other_rows,
                    &record,
                    &rows,
                ));
            }
            Ok(files)
        })
        .await
        .map_err(|error| CoordinatorError::Internal(format!("report task failed: {error}")))?
    }

    /// An endpoint's evidence from a run as a portable fingerprint profile (JSON), to be
    /// used as a reference in later audits.
    ///
    /// # Errors
    /// Unknown run or endpoint, a run without provenance probes; store errors.
    pub async fn export_profile(
        &self,
        run_id: &str,
        endpoint: &str,
    ) -> Result<String, CoordinatorError> {
        let record = self.run_record(run_id).await?;
        let spec = self.spec_for(run_id).await?;
        if !spec
            .endpoints
            .iter()
            .any(|candidate| candidate.name == endpoint)
        {
            let names: Vec<&str> = spec
                .endpoints
                .iter()
                .map(|candidate| candidate.name.as_str())
                .collect();
            return Err(CoordinatorError::InvalidRequest(format!(
                "run {run_id} has no endpoint `{endpoint}`; its endpoints are: {}",
                names.join(", ")
            )));
        }
        let probes = self.store.probe_rows(run_id).await?;
        if !probes.iter().any(|probe| probe.endpoint == endpoint) {
            return Err(CoordinatorError::InvalidRequest(format!(
                "run {run_id} collected no provenance probes for `{endpoint}`; run it with `provenance = true` in the spec (or `jianzhen run --provenance`)"
            )));
        }
        let rows = self.store.scored_rows(run_id).await?;
        let fingerprint = self.store.provenance_mc_rows(run_id).await?;
        let profiles = audit::build_profiles(
            &spec,
            &probes,
            &rows,
            &fingerprint,
            &rfc3339_from_millis(record.created_at_ms),
        );
        let profile = profiles
            .into_iter()
            .find(|profile| profile.endpoint_name == endpoint)
            .ok_or_else(|| {
                CoordinatorError::Internal(format!("no profile built for `{endpoint}`"))
            })?;
        Ok(profile.to_json()?)
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC timestamp (no time-zone data
/// needed: the civil-from-days algorithm of Howard Hinnant).
pub fn rfc3339_from_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}
