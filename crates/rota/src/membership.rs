//! A server's place in a Raft cluster: the members (`--members ID=URL,…`, or Cosmos'
//! `server.hosts` on `server.port`) and which of them this server is (`--id`, or the member
//! whose host is this machine).

use std::net::{IpAddr, UdpSocket};

use rota_server::{MemberStart, Membership};

use crate::UsageError;

/// The membership `rota server` was given: none for a single server; a joining member with
/// `join`; a founding member with members (with no `id`, this machine's member).
pub fn membership(
    id: Option<u64>,
    members: &[String],
    join: bool,
) -> Result<Option<Membership>, UsageError> {
    if join {
        return match (id, members.is_empty()) {
            (Some(id), true) => Ok(Some(Membership {
                id,
                start: MemberStart::Join,
            })),
            (None, _) => Err(UsageError("--join needs --id".into())),
            (Some(_), false) => Err(UsageError(
                "--join and --members (or server.hosts) exclude each other: a joining member \
                 learns the members from the cluster"
                    .into(),
            )),
        };
    }
    if members.is_empty() {
        return match id {
            Some(_) => Err(UsageError(
                "--id needs --members or --join (or server.hosts and server.port in --config)"
                    .into(),
            )),
            None => Ok(None),
        };
    }
    let members = members
        .iter()
        .map(|m| parse_member(m))
        .collect::<Result<Vec<_>, _>>()?;
    let id = match id {
        Some(id) => id,
        None => local_member(&members, is_this_machine)?,
    };
    if !members.iter().any(|(m, _)| *m == id) {
        return Err(UsageError(format!(
            "--members must name this server's id {id}"
        )));
    }
    Ok(Some(Membership {
        id,
        start: MemberStart::Founding(members),
    }))
}

fn parse_member(member: &str) -> Result<(u64, String), UsageError> {
    let (id, url) = member
        .split_once('=')
        .ok_or_else(|| UsageError(format!("--members: `{member}` is not ID=URL")))?;
    let id = id
        .trim()
        .parse()
        .map_err(|_| UsageError(format!("--members: `{id}` is not a member id")))?;
    Ok((id, url.trim().trim_end_matches('/').to_string()))
}

/// The id of the one member whose URL's host `is_local` says is this machine.
fn local_member(
    members: &[(u64, String)],
    is_local: impl Fn(&str) -> bool,
) -> Result<u64, UsageError> {
    let hosts = members
        .iter()
        .map(|(_, url)| url_host(url))
        .collect::<Vec<_>>()
        .join(", ");
    let mine: Vec<u64> = members
        .iter()
        .filter(|(_, url)| is_local(url_host(url)))
        .map(|(id, _)| *id)
        .collect();
    match mine[..] {
        [id] => Ok(id),
        [] => Err(UsageError(format!(
            "no member's host ({hosts}) is this machine (host name `{}`): give --id",
            crate::dev::hostname()
        ))),
        _ => Err(UsageError(format!(
            "several members' hosts ({hosts}) are this machine: give --id"
        ))),
    }
}

/// The host of `http://HOST:PORT/…`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    }
}

/// Whether `host` is this machine: its host name (or that name with a domain), or one of
/// its IP addresses (an address a socket can be bound to here).
fn is_this_machine(host: &str) -> bool {
    let name = crate::dev::hostname();
    let host = host.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if host == name || host.strip_prefix(&name).is_some_and(|d| d.starts_with('.')) {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| !ip.is_unspecified() && UdpSocket::bind((ip, 0)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<(u64, String)> {
        ["http://h1:7070", "http://h2:7070", "http://[::9]:7070/"]
            .iter()
            .enumerate()
            .map(|(i, url)| (i as u64 + 1, url.to_string()))
            .collect()
    }

    #[test]
    fn the_id_is_the_position_of_this_machine_among_the_hosts() {
        assert_eq!(local_member(&members(), |h| h == "h2").unwrap(), 2);
        assert_eq!(local_member(&members(), |h| h == "::9").unwrap(), 3);
    }

    #[test]
    fn no_or_several_matching_hosts_are_an_error_asking_for_the_id() {
        let none = local_member(&members(), |_| false).unwrap_err().0;
        assert!(
            none.contains("h1, h2, ::9") && none.contains("--id"),
            "{none}"
        );
        let several = local_member(&members(), |h| h != "::9").unwrap_err().0;
        assert!(
            several.contains("several") && several.contains("--id"),
            "{several}"
        );
    }

    #[test]
    fn members_are_id_equals_url_and_must_include_the_id() {
        let given = ["1=http://a:1/".to_string(), "2=http://b:1".to_string()];
        let chosen = membership(Some(2), &given, false).unwrap().unwrap();
        assert_eq!(
            chosen.start,
            MemberStart::Founding(vec![
                (1, "http://a:1".to_string()),
                (2, "http://b:1".to_string())
            ])
        );
        assert!(membership(Some(3), &given, false).is_err());
        assert!(membership(Some(1), &["http://a:1".to_string()], false).is_err());
        assert!(membership(Some(1), &[], false).is_err());
        assert!(membership(None, &[], false).unwrap().is_none());
    }

    #[test]
    fn a_joining_member_needs_an_id_and_no_members() {
        let joining = membership(Some(4), &[], true).unwrap().unwrap();
        assert_eq!((joining.id, joining.start), (4, MemberStart::Join));
        assert!(membership(None, &[], true).is_err());
        let given = ["1=http://a:1".to_string()];
        assert!(membership(Some(4), &given, true).is_err());
    }

    #[test]
    fn this_machine_is_its_host_name_or_a_local_address() {
        assert!(is_this_machine(&crate::dev::hostname()));
        assert!(is_this_machine("127.0.0.1"));
        assert!(!is_this_machine("203.0.113.77"));
        assert!(!is_this_machine("0.0.0.0"));
    }
}
