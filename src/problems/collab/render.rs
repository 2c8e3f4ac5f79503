//! The report and an evaluated plan as text.

use super::evaluate::Evaluation;
use super::solve::CollabReport;
use super::{CollabPlan, CollabProblem};

/// The report as text.
pub fn report(problem: &CollabProblem, report: &CollabReport) -> String {
    let _ = (problem, report);
    unimplemented!("render")
}

/// An evaluated plan as text.
pub fn evaluation(problem: &CollabProblem, plan: &CollabPlan, evaluation: &Evaluation) -> String {
    let _ = (problem, plan, evaluation);
    unimplemented!("render")
}
