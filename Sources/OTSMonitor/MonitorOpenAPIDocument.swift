import Foundation

/// The OpenAPI document of the monitor's API, kept as `openapi.json`
/// beside this file and served at `/api/v1/openapi.json`.
public enum MonitorOpenAPIDocument {
    public static let data: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            return Data(#"{"error":"the OpenAPI document is missing from this build"}"#.utf8)
        }
        return data
    }()
}
