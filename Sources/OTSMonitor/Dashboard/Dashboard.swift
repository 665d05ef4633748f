import Foundation
import Hummingbird
import Mustache
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore

/// The web dashboard at `/`: server-rendered HTML from mustache templates,
/// SVG charts drawn on the server, and a small script that follows the
/// event stream and redraws the page's live part. Everything it needs is
/// served from the monitor itself: no CDN, no build step.
struct Dashboard {
    let pages: DashboardPages
    let library: MustacheLibrary
    let assets: [String: (type: String, bytes: [UInt8])]

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads the templates and assets shipped with the monitor.
    init(store: Store, consumer: String, configuration: MonitorConfiguration = MonitorConfiguration()) throws {
        pages = DashboardPages(
            store: store, consumer: consumer, cases: CaseAnalysis(configuration: configuration), serverURL: configuration.serverURL)
        guard let folder = Bundle.module.resourcePath else { throw LoadError(description: "the monitor's resources are missing") }
        var library = MustacheLibrary()
        let templates = folder + "/templates"
        for file in try FileManager.default.contentsOfDirectory(atPath: templates) where file.hasSuffix(".mustache") {
            let text = try String(contentsOfFile: templates + "/" + file, encoding: .utf8)
            do {
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            } catch {
                throw LoadError(description: "dashboard template \(file): \(error)")
            }
        }
        self.library = library
        var assets: [String: (String, [UInt8])] = [:]
        let types = ["css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder + "/static") {
            guard let type = types[(file as NSString).pathExtension] else { continue }
            assets[file] = (type, Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/static/" + file))))
        }
        self.assets = assets
    }

    func register(
        on router: Router<OTSRequestContext>, reading: AccessMiddleware, authenticator: TokenAuthenticator, secureCookie: Bool,
        operators: Operators
    ) {
        router.get("login") { _, _ in page("login", Login()) }
        router.post("login") { request, _ in
            var request = request
            let form = String(buffer: try await request.collectBody(upTo: 16 * 1024))
            let token = (try? URLEncodedFormDecoder().decode(LoginForm.self, from: form))?.token ?? ""
            guard let principal = try? await authenticator.principal(token: token), principal.scope.grants(.read) else {
                return page("login", Login(message: "That token is unknown, revoked, or cannot read."), status: .unauthorized)
            }
            let cookie = Cookie(
                name: AccessMiddleware.cookie, value: token, maxAge: 30 * 86_400, path: "/", secure: secureCookie, httpOnly: true,
                sameSite: .strict)
            return Response(status: .seeOther, headers: [.location: "/", .setCookie: cookie.description])
        }
        router.post("logout") { _, _ in
            let cookie = Cookie(name: AccessMiddleware.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict)
            return Response(status: .seeOther, headers: [.location: "/login", .setCookie: cookie.description])
        }
        router.get("static/:file") { _, context in
            let file = try context.parameters.require("file")
            guard let asset = assets[file] else { throw HTTPError(.notFound) }
            return Response(
                status: .ok, headers: [.contentType: asset.type, .cacheControl: "max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
        }
        registerOperators(on: router, operators)
        let router = router.group().add(middleware: SignInPage(dashboard: self)).add(middleware: reading)
        router.get("/") { request, _ in
            let query = request.uri.queryParameters
            let window = query.get("window").flatMap { $0.isEmpty ? nil : $0 } ?? "24h"
            if case .failure(let problem) = Result(catching: { () throws(StatisticsWindow.Problem) in
                try StatisticsWindow.parse(window: window, since: nil, until: nil)
            }) {
                return page("problem", Problem(title: "Bad request", message: problem.message), status: .badRequest)
            }
            let group = query.get("devicegroup").flatMap { $0.isEmpty ? nil : $0 }
            return page("overview", try await pages.overview(window: window, deviceGroup: group))
        }
        router.get("testruns/:id") { _, context in
            let id = try Self.parameter("id", in: context)
            guard let testrun = try await pages.testrun(id: id) else {
                return page("problem", Problem(title: "Not found", message: "no testrun \(id)"), status: .notFound)
            }
            return page("testrun", testrun)
        }
        router.get("workers/:host") { request, context in
            let host = try Self.parameter("host", in: context)
            guard let worker = try await pages.worker(host: host, canOperate: await operators.adminToken(request) != nil) else {
                return page("problem", Problem(title: "Not found", message: "no worker instances on host \(host)"), status: .notFound)
            }
            return page("worker", worker)
        }
        registerCasePages(on: router)
        router.get("errors/:signature") { _, context in
            let signature = try Self.parameter("signature", in: context)
            guard let error = try await pages.error(signature: signature) else {
                return page("problem", Problem(title: "Not found", message: "no error with signature \(signature)"), status: .notFound)
            }
            return page("error", error)
        }
    }

    struct Login {
        var title = "Sign in"
        var message: String?
    }

    /// The sign-in form's body (`application/x-www-form-urlencoded`).
    struct LoginForm: Decodable {
        var token: String
    }

    /// Shows a browser without a valid token the sign-in page instead of
    /// the API's JSON 401.
    struct SignInPage: RouterMiddleware {
        typealias Context = OTSRequestContext
        let dashboard: Dashboard

        func handle(
            _ request: Request, context: OTSRequestContext, next: (Request, OTSRequestContext) async throws -> Response
        ) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as APIError where error.code == .unauthorized || error.code == .forbidden {
                return dashboard.page(
                    "login", Login(message: request.cookies[AccessMiddleware.cookie] == nil ? nil : error.message), status: error.status)
            }
        }
    }

    struct Problem {
        var title: String
        var message: String
        var stream: String? = nil
    }

    /// A path parameter, percent-decoded (links escape everything but
    /// unreserved characters).
    static func parameter(_ name: String, in context: OTSRequestContext) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// What every template sees: the page, and what the layout shows.
    struct Layout {
        var page: Any
        var version = OTSVersion.current
    }

    /// Renders a template as an HTML answer.
    func page(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html =
            library.render(Layout(page: object), withTemplate: template)
            ?? "<!doctype html><title>OTS</title><p>no template \(template)</p>"
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}
