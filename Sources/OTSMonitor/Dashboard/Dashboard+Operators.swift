import Foundation
import HTTPTypes
import Hummingbird
import OTSClient
import OTSCore
import OTSHTTP

/// An operator's buttons on the worker page: maintenance, online, retire.
/// The monitor changes nothing itself: it sends the command to the server
/// with the operator's own token (the dashboard's cookie), and the server,
/// which checks the admin scope, decides.
extension Dashboard {
    struct Operators: Sendable {
        /// The server the commands go to (`server` of the monitor's
        /// configuration); without one there are no buttons.
        let server: String?
        let policy: AccessPolicy
        let authenticator: TokenAuthenticator

        /// The operator's token when the request comes from an admin sign-in
        /// (the empty string when the farm checks no tokens); nil otherwise.
        func adminToken(_ request: Request) async -> String? {
            guard server != nil else { return nil }
            if policy.mode == .off { return "" }
            guard let token = request.cookies[AccessMiddleware.cookie]?.value, !token.isEmpty,
                let principal = try? await authenticator.principal(token: token), principal.scope.grants(.admin)
            else { return nil }
            return token
        }

        /// Whether a form post comes from the dashboard itself: a browser
        /// says where a request comes from, and a page of another site
        /// may not send commands in an operator's name.
        static func sameOrigin(_ request: Request) -> Bool {
            if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin" { return false }
            if let origin = request.headers[.origin], let host = request.head.authority {
                return URLComponents(string: origin).map { components in
                    (components.host ?? "") + (components.port.map { ":\($0)" } ?? "") == host
                } ?? false
            }
            return true
        }
    }

    /// The form an operator's button posts: why (for maintenance).
    struct CommandForm: Decodable {
        var reason: String?
    }

    func registerOperators(on router: Router<OTSRequestContext>, _ operators: Operators) {
        router.post("workers/:host/:instance/:command") { request, context in
            let host = try Self.parameter("host", in: context)
            let instance = try Self.parameter("instance", in: context)
            let name = try Self.parameter("command", in: context)
            guard let kind = DeviceCommand.Kind(rawValue: name) else {
                return page("problem", Problem(title: "Not found", message: "no command \(name)"), status: .notFound)
            }
            guard Operators.sameOrigin(request) else {
                return page(
                    "problem", Problem(title: "Forbidden", message: "commands come from the dashboard's own pages"), status: .forbidden)
            }
            guard let server = operators.server else {
                return page(
                    "problem",
                    Problem(title: "No server", message: "this monitor has no server to send commands to (server in its configuration)"),
                    status: .serviceUnavailable)
            }
            guard let token = await operators.adminToken(request) else {
                return page("login", Login(message: "Commands on devices need a sign-in with an admin token."), status: .forbidden)
            }
            var request = request
            let body = String(buffer: try await request.collectBody(upTo: 16 * 1024))
            let form = (try? URLEncodedFormDecoder().decode(CommandForm.self, from: body)) ?? CommandForm()
            let client = OTSClient(baseURL: server, token: token.isEmpty ? nil : token)
            do {
                _ = try await client.device(host + "/" + instance, kind, reason: form.reason)
            } catch let error as ClientError {
                guard case .rejected(let status, let problem) = error.kind else {
                    return page("problem", Problem(title: "No answer", message: error.message), status: .badGateway)
                }
                return page("problem", Problem(title: "Refused", message: problem.message), status: HTTPResponse.Status(code: status))
            }
            return Response(status: .seeOther, headers: [.location: DashboardPages.hostLink(host)])
        }
    }
}
