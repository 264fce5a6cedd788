//! `run_instance.log`: timestamped lines in the official harness's layout
//! (`2024-05-01 12:00:00,123 - INFO - message`), flushed line by line.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

pub struct InstanceLog {
    file: File,
}

impl InstanceLog {
    /// Opens (appending) `path`, creating its directory.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { file })
    }

    pub fn info(&mut self, message: &str) {
        self.line("INFO", message);
    }

    pub fn error(&mut self, message: &str) {
        self.line("ERROR", message);
    }

    fn line(&mut self, level: &str, message: &str) {
        // A log that cannot be written must not stop the evaluation.
        let _ = writeln!(
            self.file,
            "{} - {level} - {message}",
            timestamp(SystemTime::now())
        );
        let _ = self.file.flush();
    }
}

/// `YYYY-MM-DD HH:MM:SS,mmm` in UTC.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02},{:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00,000");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123); // 2024-02-29 23:59:59.123
        assert_eq!(timestamp(t), "2024-02-29 23:59:59,123");
        let t = UNIX_EPOCH + Duration::from_secs(951_868_800); // 2000-03-01
        assert_eq!(timestamp(t), "2000-03-01 00:00:00,000");
    }

    #[test]
    fn log_lines_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/run_instance.log");
        let mut log = InstanceLog::open(&path).unwrap();
        log.info("first");
        log.error("second");
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(" - INFO - first"));
        assert!(lines[1].ends_with(" - ERROR - second"));
    }
}
