//! The radio channel of the generators: 3GPP macro-cell path loss with log-normal shadowing,
//! transmit powers and noise, and the SNR per resource block capped at 5G NR's highest spectral
//! efficiency. Long-term averages: no fast fading, no interference.

/// Path loss at 1 km, dB (TR 36.814 macro cell).
pub const PATH_LOSS_1KM_DB: f64 = 128.1;
/// Path loss slope, dB per decade of distance (TR 36.814 macro cell).
pub const PATH_LOSS_SLOPE_DB: f64 = 37.6;
/// Shadowing standard deviation, dB (TR 36.814 macro cell).
pub const SHADOWING_STD_DB: f64 = 8.0;
/// Distances are clamped to at least this, m (TR 38.901 UMa validity range).
pub const MIN_DISTANCE_M: f64 = 10.0;
/// User transmit power, dBm (UE power class 3).
pub const UPLINK_POWER_DBM: f64 = 23.0;
/// Base-station transmit power, dBm (TR 36.814 macro BS).
pub const DOWNLINK_POWER_DBM: f64 = 46.0;
/// Thermal noise density at 290 K, dBm/Hz.
pub const NOISE_DENSITY_DBM_HZ: f64 = -174.0;
/// UE receiver noise figure (downlink), dB (TR 36.814).
pub const UE_NOISE_FIGURE_DB: f64 = 9.0;
/// Base-station receiver noise figure (uplink), dB (TR 36.814).
pub const BS_NOISE_FIGURE_DB: f64 = 5.0;
/// Highest spectral efficiency of 5G NR, bit/s/Hz (TS 38.214 Table 5.1.3.1-2, MCS 27).
pub const MAX_SPECTRAL_EFFICIENCY: f64 = 7.4063;

/// The SNR cap, dB: where the Shannon rate `log2(1 + SNR)` reaches
/// [`MAX_SPECTRAL_EFFICIENCY`].
pub fn max_snr_db() -> f64 {
    10.0 * (2f64.powf(MAX_SPECTRAL_EFFICIENCY) - 1.0).log10()
}

/// Per-resource-block uplink and downlink SNR, dB, at `distance_m` with shadowing
/// `shadowing_db`, over resource blocks of `rb_bandwidth_hz`, when the user spreads its power
/// over `uplink_blocks` blocks and the base station over `downlink_blocks`; both capped at
/// [`max_snr_db`].
pub fn snr_db(
    distance_m: f64,
    shadowing_db: f64,
    rb_bandwidth_hz: f64,
    uplink_blocks: f64,
    downlink_blocks: f64,
) -> (f64, f64) {
    let d_km = distance_m.max(MIN_DISTANCE_M) / 1000.0;
    let path_loss = PATH_LOSS_1KM_DB + PATH_LOSS_SLOPE_DB * d_km.log10() + shadowing_db;
    let noise = NOISE_DENSITY_DBM_HZ + 10.0 * rb_bandwidth_hz.log10();
    let spread = |blocks: f64| 10.0 * blocks.max(1.0).log10();
    let cap = max_snr_db();
    (
        (UPLINK_POWER_DBM - spread(uplink_blocks) - path_loss - noise - BS_NOISE_FIGURE_DB)
            .min(cap),
        (DOWNLINK_POWER_DBM - spread(downlink_blocks) - path_loss - noise - UE_NOISE_FIGURE_DB)
            .min(cap),
    )
}
