//! The CI registry: import, the API over units and CIs, and the dependency graph.

use reqwest::Method;
use serde_json::{json, Value};

use crate::correlation::fire;
use crate::helpers::{registry_fixture, spawn_app, Backend, TestApp};
use crate::on_both_stores;

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn importing_the_ministry_registry_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let yaml = registry_fixture("ministerio.yaml");
    let (status, report) = app.import(&yaml, "application/yaml").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["units"],
        json!({ "created": 4, "updated": 0, "unchanged": 0 })
    );
    assert_eq!(
        report["cis"],
        json!({ "created": 19, "updated": 0, "unchanged": 0 })
    );
    assert_eq!(
        report["people"],
        json!({ "created": 13, "updated": 0, "unchanged": 0 })
    );
    let (_, again) = app.import(&yaml, "application/yaml").await;
    assert_eq!(
        again["cis"],
        json!({ "created": 0, "updated": 0, "unchanged": 19 })
    );
    assert_eq!(
        again["units"],
        json!({ "created": 0, "updated": 0, "unchanged": 4 })
    );
    assert_eq!(
        again["people"],
        json!({ "created": 0, "updated": 0, "unchanged": 13 })
    );
    let dinafi = app.get("/api/v1/people?unit=DINAFI").await;
    let logins: Vec<&str> = dinafi
        .as_array()
        .expect("people")
        .iter()
        .map(|p| p["login"].as_str().expect("login"))
        .collect();
    assert_eq!(
        logins,
        [
            "admin.mesa",
            "ana.lopez",
            "carlos.mejia",
            "jefe.dinafi",
            "proveedor.oracle",
            "rosa.hernandez"
        ]
    );
    let rosa = &dinafi[5];
    assert_eq!(rosa["role"], "technician");
    assert_eq!(rosa["tier"], 2);
    assert_eq!(
        app.get("/api/v1/people")
            .await
            .as_array()
            .expect("all")
            .len(),
        13
    );
    // The same registry as JSON and as CSV changes nothing either.
    let (status, json_report) = app
        .import(&registry_fixture("ministerio.json"), "application/json")
        .await;
    assert_eq!(status, 200, "{json_report}");
    assert_eq!(json_report["cis"]["unchanged"], 19);
    let (status, csv_report) = app
        .import(&registry_fixture("ministerio.csv"), "text/csv")
        .await;
    assert_eq!(status, 200, "{csv_report}");
    assert_eq!(csv_report["cis"]["unchanged"], 19);
    // An edited file updates only what changed.
    let edited = yaml.replace("name: UPS centro de datos", "name: UPS del centro de datos");
    let (_, report) = app.import(&edited, "application/yaml").await;
    assert_eq!(
        report["cis"],
        json!({ "created": 0, "updated": 1, "unchanged": 18 })
    );
    let ups = app.get("/api/v1/cis/dc-power-ups01").await;
    assert_eq!(ups["name"], "UPS del centro de datos");
    assert_eq!(app.count("config_items").await, 19);
}

async fn impact_and_dependencies_walk_the_graph_both_ways(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let impact = app.get("/api/v1/cis/db-safi-pg01/impact").await;
    let mut cis = ids(&impact["cis"]);
    cis.sort();
    assert_eq!(
        cis,
        [
            "srv-safi-app01",
            "srv-safi-app02",
            "svc-pagos",
            "svc-safi-web"
        ]
    );
    assert_eq!(ids(&impact["services"]).len(), 2);
    let deps = app.get("/api/v1/cis/svc-pagos/dependencies").await;
    let mut cis = ids(&deps["cis"]);
    cis.sort();
    assert_eq!(
        cis,
        [
            "db-safi-pg01",
            "dc-power-ups01",
            "net-core-sw01",
            "srv-dgt-app01",
            "srv-safi-app01",
            "srv-safi-app02",
            "svc-safi-web",
            "vm-cluster01"
        ]
    );
    assert_eq!(
        ids(&deps["cis"])[0..2],
        ["srv-dgt-app01", "svc-safi-web"],
        "nearest first"
    );
    let none = app.as_admin(Method::GET, "/api/v1/cis/nope/impact").await;
    assert_eq!(none.status(), 404);
}

/// The offending lines of a refused import.
async fn refused_lines(app: &TestApp, body: &str, content_type: &str) -> Vec<String> {
    let (status, problem) = app.import(body, content_type).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "invalid");
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().expect("text").to_owned())
        .collect()
}

async fn a_bad_file_is_refused_whole_with_every_offending_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let file = "\
units:
  - { code: DGA, name: Aduanas }
config_items:
  - { id: a, name: A, type: server, unit: DGA, criticality: high, identifiers: [h1] }
  - { id: b, name: B, type: server, unit: NOPE, criticality: high }
  - { id: c, name: C, type: server, unit: DGA, criticality: high, identifiers: [H1] }
  - { id: d, name: D, type: server, unit: DGA, criticality: high, depends_on: [ghost] }
  - { id: e, name: E, type: server, unit: DGA, criticality: high, depends_on: [f] }
  - { id: f, name: F, type: server, unit: DGA, criticality: high, depends_on: [e] }
";
    let errors = refused_lines(&app, file, "application/yaml").await;
    let joined = errors.join("\n");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 5:") && e.contains("NOPE")),
        "{joined}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 6:")
                && e.contains("`H1` of CI `c` is already used by CI `a`")),
        "{joined}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 7:") && e.contains("ghost")),
        "{joined}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 8:") && e.contains("cycle")),
        "{joined}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 9:") && e.contains("cycle")),
        "{joined}"
    );
    assert_eq!(app.count("config_items").await, 0, "nothing was written");
    assert_eq!(app.count("units").await, 0);
    let csv = "id,name,type,unit,criticality\nx,X,server,DGA,high\ny,Y,server,DGA,extreme\n";
    let errors = refused_lines(&app, csv, "text/csv").await;
    assert!(
        errors.iter().any(|e| e.starts_with("line 3:")),
        "{errors:?}"
    );
    let resp = app
        .client
        .post(format!("{}/api/v1/cis:import", app.base))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/xml")
        .body("<cis/>")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 415);
}

async fn cis_are_created_changed_and_deleted_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let ci = json!({ "id": "srv-nuevo", "name": "Servidor nuevo", "type": "server",
        "unit": "DGT", "criticality": "medium", "identifiers": ["nuevo01"],
        "attributes": { "rack": "B4" }, "depends_on": ["vm-cluster01"] });
    let (status, created) = app.admin_json(Method::POST, "/api/v1/cis", &ci).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app.admin_json(Method::POST, "/api/v1/cis", &ci).await;
    assert_eq!(status, 409, "an existing id is a conflict");
    // Binding follows the registry at once.
    let bound = fire(&app, "n1", "nuevo01", "major").await;
    assert_eq!(bound["ci"], "srv-nuevo");
    let mut changed = ci.clone();
    changed["identifiers"] = json!(["nuevo01", "10.4.1.99"]);
    let (status, _) = app
        .admin_json(Method::PUT, "/api/v1/cis/srv-nuevo", &changed)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        fire(&app, "n2", "10.4.1.99", "major").await["ci"],
        "srv-nuevo"
    );
    let stored = app.get("/api/v1/cis/srv-nuevo").await;
    assert_eq!(stored["attributes"]["rack"], "B4");
    assert_eq!(
        stored["depends_on"],
        json!([{ "ci": "vm-cluster01", "relation": "depends_on" }])
    );
    // Invalid changes are refused with the reason.
    let mut cyclic = json!(registry_ci(&app, "vm-cluster01").await);
    cyclic["depends_on"] = json!(["srv-nuevo"]);
    let (status, problem) = app
        .admin_json(Method::PUT, "/api/v1/cis/vm-cluster01", &cyclic)
        .await;
    assert_eq!(status, 422);
    assert!(
        problem["errors"][0].as_str().expect("e").contains("cycle"),
        "{problem}"
    );
    let mut twice = ci.clone();
    twice["id"] = json!("srv-doble");
    twice["identifiers"] = json!([]);
    twice["depends_on"] = json!(["vm-cluster01", { "ci": "vm-cluster01", "relation": "runs_on" }]);
    let (status, problem) = app.admin_json(Method::POST, "/api/v1/cis", &twice).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("more than once"),
        "{problem}"
    );
    let mut taken = ci.clone();
    taken["id"] = json!("srv-otro");
    let (status, problem) = app.admin_json(Method::POST, "/api/v1/cis", &taken).await;
    assert_eq!(status, 422, "{problem}");
    // Listing with filters and pages.
    let page = app.get("/api/v1/cis?unit=DINAFI&limit=4").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 4);
    let next = page["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get(&format!("/api/v1/cis?unit=DINAFI&limit=100&cursor={next}"))
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 5);
    let services = app.get("/api/v1/cis?type=service").await;
    assert_eq!(services["items"].as_array().expect("items").len(), 5);
    // What others depend on cannot go; the rest can.
    let resp = app
        .as_admin(Method::DELETE, "/api/v1/cis/vm-cluster01")
        .await;
    assert_eq!(resp.status(), 409);
    let resp = app.as_admin(Method::DELETE, "/api/v1/cis/srv-nuevo").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        fire(&app, "n3", "10.4.1.99", "major").await["ci"],
        Value::Null
    );
    let resp = app.as_admin(Method::DELETE, "/api/v1/units/DGT").await;
    assert_eq!(resp.status(), 409, "a unit that owns CIs stays");
    let resp = app
        .send(
            Method::POST,
            "/api/v1/cis",
            Some(&ci.to_string()),
            Some(&app.monitor_token),
        )
        .await;
    assert_eq!(resp.status(), 403);
}

async fn registry_ci(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/cis/{id}")).await
}

on_both_stores!(
    importing_the_ministry_registry_is_idempotent,
    impact_and_dependencies_walk_the_graph_both_ways,
    a_bad_file_is_refused_whole_with_every_offending_line,
    cis_are_created_changed_and_deleted_through_the_api,
);
