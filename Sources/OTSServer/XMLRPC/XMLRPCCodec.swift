import Foundation
import TestDefinition

/// Reads XML-RPC method calls and writes answers and faults. A call that is
/// not XML-RPC gets a fault that names what is wrong and where, never a
/// crash: the XML is read by TestDefinition's reader, which refuses
/// external entities and DTDs that change the document and bounds depth.
enum XMLRPCCodec {
    /// Reads a `methodCall` document.
    static func call(from data: Data) throws(XMLRPCFault) -> XMLRPCCall {
        let root: XMLTree
        do {
            root = try XMLTree.read(data, file: "XML-RPC request")
        } catch {
            throw .parse("not XML: \(error)")
        }
        guard root.name == "methodCall" else {
            throw .invalid("line \(root.line): the document is <\(root.name.prefix(100))>, not an XML-RPC <methodCall>")
        }
        try onlyChildren(of: root, ["methodName", "params"])
        let names = root.children(named: "methodName")
        guard names.count == 1 else {
            throw .invalid("line \(root.line): a <methodCall> has one <methodName>, not \(names.count)")
        }
        let method = names[0].text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !method.isEmpty else { throw .invalid("line \(names[0].line): the <methodName> is empty") }
        var parameters: [XMLRPCValue] = []
        let params = root.children(named: "params")
        guard params.count <= 1 else { throw .invalid("line \(params[1].line): a <methodCall> has at most one <params>") }
        if let list = params.first {
            try onlyChildren(of: list, ["param"])
            for param in list.children {
                try onlyChildren(of: param, ["value"])
                guard param.children.count == 1 else {
                    throw .invalid("line \(param.line): a <param> holds one <value>, not \(param.children.count)")
                }
                parameters.append(try value(param.children[0]))
            }
        }
        return XMLRPCCall(method: method, parameters: parameters)
    }

    /// A `<value>` element's value: its one typed child, or its text (a
    /// string) when it has none.
    static func value(_ element: XMLTree) throws(XMLRPCFault) -> XMLRPCValue {
        guard element.name == "value" else { throw .invalid("line \(element.line): <\(element.name.prefix(100))> where a <value> belongs") }
        guard !element.children.isEmpty else { return .string(element.text) }
        guard element.children.count == 1 else {
            throw .invalid("line \(element.line): a <value> holds one typed element, not \(element.children.count)")
        }
        let typed = element.children[0]
        let text = typed.text
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let scalar = ["i4", "int", "i8", "boolean", "string", "double", "dateTime.iso8601", "base64", "nil"]
        if scalar.contains(typed.name), let child = typed.children.first {
            throw .invalid("line \(child.line): <\(typed.name)> holds text, not <\(child.name.prefix(100))>")
        }
        switch typed.name {
        case "i4", "int", "i8":
            guard let number = Int(trimmed) else {
                throw .invalid("line \(typed.line): <\(typed.name)> '\(trimmed.prefix(50))' is not an integer")
            }
            return .int(number)
        case "boolean":
            switch trimmed {
            case "1": return .bool(true)
            case "0": return .bool(false)
            default: throw .invalid("line \(typed.line): <boolean> is 0 or 1, not '\(trimmed.prefix(50))'")
            }
        case "string":
            return .string(text)
        case "double":
            guard let number = Double(trimmed), number.isFinite else {
                throw .invalid("line \(typed.line): <double> '\(trimmed.prefix(50))' is not a number")
            }
            return .double(number)
        case "dateTime.iso8601":
            return .dateTime(trimmed)
        case "base64":
            guard let bytes = Data(base64Encoded: trimmed, options: .ignoreUnknownCharacters) else {
                throw .invalid("line \(typed.line): <base64> is not base64")
            }
            return .base64([UInt8](bytes))
        case "nil":
            return .null
        case "array":
            try onlyChildren(of: typed, ["data"])
            guard typed.children.count == 1 else { throw .invalid("line \(typed.line): an <array> holds one <data>") }
            try onlyChildren(of: typed.children[0], ["value"])
            var values: [XMLRPCValue] = []
            for item in typed.children[0].children { values.append(try value(item)) }
            return .array(values)
        case "struct":
            try onlyChildren(of: typed, ["member"])
            var members: [String: XMLRPCValue] = [:]
            for member in typed.children {
                try onlyChildren(of: member, ["name", "value"])
                let names = member.children(named: "name")
                let values = member.children(named: "value")
                guard names.count == 1, values.count == 1 else {
                    throw .invalid("line \(member.line): a <member> holds one <name> and one <value>")
                }
                let name = names[0].text
                guard members[name] == nil else { throw .invalid("line \(member.line): member '\(name.prefix(100))' is given twice") }
                members[name] = try value(values[0])
            }
            return .structure(members)
        default:
            throw .invalid("line \(typed.line): <\(typed.name.prefix(100))> is not an XML-RPC type")
        }
    }

    private static func onlyChildren(of element: XMLTree, _ allowed: Set<String>) throws(XMLRPCFault) {
        if let stray = element.children.first(where: { !allowed.contains($0.name) }) {
            throw .invalid(
                "line \(stray.line): <\(stray.name.prefix(100))> does not belong in <\(element.name)> (only \(allowed.sorted().map { "<\($0)>" }.joined(separator: ", ")))"
            )
        }
    }

    /// A `methodResponse` with one value.
    static func response(_ value: XMLRPCValue) -> String {
        var writer = XMLWriter()
        writer.start("methodResponse")
        writer.start("params")
        writer.start("param")
        write(value, to: &writer)
        writer.end()
        writer.end()
        writer.end()
        return writer.output
    }

    /// A `methodResponse` with a fault.
    static func response(_ fault: XMLRPCFault) -> String {
        var writer = XMLWriter()
        writer.start("methodResponse")
        writer.start("fault")
        write(.structure(["faultCode": .int(fault.code), "faultString": .string(fault.message)]), to: &writer)
        writer.end()
        writer.end()
        return writer.output
    }

    static func write(_ value: XMLRPCValue, to writer: inout XMLWriter) {
        writer.start("value")
        switch value {
        case .int(let number): writer.text("int", String(number))
        case .bool(let flag): writer.text("boolean", flag ? "1" : "0")
        case .string(let text): writer.text("string", text)
        case .double(let number): writer.text("double", String(number))
        case .dateTime(let text): writer.text("dateTime.iso8601", text)
        case .base64(let bytes): writer.text("base64", Data(bytes).base64EncodedString())
        case .null: writer.empty("nil")
        case .array(let values):
            writer.start("array")
            writer.start("data")
            for item in values { write(item, to: &writer) }
            writer.end()
            writer.end()
        case .structure(let members):
            writer.start("struct")
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                writer.start("member")
                writer.text("name", name)
                write(member, to: &writer)
                writer.end()
            }
            writer.end()
        }
        writer.end()
    }
}
