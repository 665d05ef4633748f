import Foundation
import Hummingbird
import OTSCore
import OTSHTTP

/// `/devices`: every instance's health (read), and an operator's commands
/// on one (admin): maintenance, online, retire.
struct DeviceRoutes: ResourceRoutes {
    let context: RouteContext

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies) = (context.farm, context.bodies)
        context.group(routes, .read).get { _, _ in try JSONResponse.make(try await farm.devices()) }
        let admin = context.group(routes, .admin)
        for kind in DeviceCommand.Kind.allCases {
            admin.post(":host/:instance/\(kind.rawValue)") { request, context in
                let data = try await bodies.data(request.body)
                let command =
                    data.isEmpty ? DeviceCommand() : try APIError.decodeBody(DeviceCommand.self, from: data, what: "the device command")
                let workerID = try context.parameters.require("host") + "/" + context.parameters.require("instance")
                return try JSONResponse.make(try await farm.command(kind, command, workerID: workerID, by: context.principal?.name))
            }
        }
    }
}
