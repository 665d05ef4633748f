import Foundation
import Hummingbird
import OTSCore

extension Router where Context == OTSRequestContext {
    /// `/api/v1`, with the routes open to everyone: `health` and the
    /// OpenAPI document.
    public func apiGroup(document: [UInt8]) -> RouterGroup<OTSRequestContext> {
        let open = group("api/v1")
        open.get("health") { _, _ in try JSONResponse.make(["status": "ok", "version": OTSVersion.current]) }
        open.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
        }
        return open
    }
}

/// The routes of one resource of an API, added to their own collection
/// (`router.addRoutes(resource.collection, atPath: "…")`).
public protocol ResourceRoutes {
    func add(to routes: RouteCollection<OTSRequestContext>)
}

extension ResourceRoutes {
    public var collection: RouteCollection<OTSRequestContext> {
        let routes = RouteCollection(context: OTSRequestContext.self)
        add(to: routes)
        return routes
    }
}
