//! The Monte Carlo simulation of the evaluator: escalations sampled request by request,
//! acceptances token by token.
