//! Who takes a ticket: the technician of the tier with the least open work, round-robin
//! among equals (whoever was assigned longest ago first), skipping people marked
//! unavailable.

use crate::store::tickets::Candidate;

pub fn pick(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .filter(|c| c.available != 0)
        .min_by(|a, b| {
            (a.open, a.last_assigned_at, &a.login).cmp(&(b.open, b.last_assigned_at, &b.login))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(login: &str, available: bool, open: i64, last: Option<i64>) -> Candidate {
        Candidate {
            login: login.into(),
            available: i64::from(available),
            open,
            last_assigned_at: last,
        }
    }

    #[test]
    fn least_open_work_wins() {
        let all = [c("ana", true, 3, None), c("carlos", true, 1, Some(10))];
        assert_eq!(pick(&all).map(|c| c.login.as_str()), Some("carlos"));
    }

    #[test]
    fn equals_take_turns_and_never_assigned_go_first() {
        let all = [
            c("ana", true, 1, Some(20)),
            c("carlos", true, 1, Some(10)),
            c("nuevo", true, 1, None),
        ];
        assert_eq!(pick(&all).map(|c| c.login.as_str()), Some("nuevo"));
        assert_eq!(pick(&all[..2]).map(|c| c.login.as_str()), Some("carlos"));
    }

    #[test]
    fn unavailable_people_are_skipped_and_nobody_means_none() {
        let all = [c("ana", false, 0, None), c("carlos", true, 5, None)];
        assert_eq!(pick(&all).map(|c| c.login.as_str()), Some("carlos"));
        assert!(pick(&[c("ana", false, 0, None)]).is_none());
        assert!(pick(&[]).is_none());
    }
}
