import Testing
@testable import PollTallyCore

@Suite("LineFramer")
struct LineFramerTests {
    static func line(_ text: String) -> LineFramer.Item { .line(Array(text.utf8)) }

    /// Feeds `bytes` cut into pieces at `cuts` (sorted offsets) and returns every item.
    static func frame(_ bytes: [UInt8], cuts: [Int], maxLine: Int = 4096) -> [LineFramer.Item] {
        var framer = LineFramer(maxLine: maxLine)
        var items: [LineFramer.Item] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            items += framer.feed(Array(bytes[start..<cut]))
            start = cut
        }
        return items
    }

    /// How many bytes of an unfinished line the framer holds (white-box, through reflection).
    static func heldBytes(_ framer: LineFramer) -> Int? {
        for child in Mirror(reflecting: framer).children where child.label == "partial" {
            return (child.value as? [UInt8])?.count
        }
        return nil
    }

    static let multiLine = Array("PING\r\nVOTE lunch alice pizza\n\nTALLY\tlunch \r\n\r\nQUIT\n".utf8)
    static let multiLineItems: [LineFramer.Item] = [
        line("PING"), line("VOTE lunch alice pizza"), line(""), line("TALLY\tlunch "), line(""), line("QUIT"),
    ]

    @Test("a multi-line input in one chunk gives its lines")
    func wholeChunk() {
        #expect(Self.frame(Self.multiLine, cuts: []) == Self.multiLineItems)
    }

    @Test("split at every byte position gives the same lines")
    func everySplit() {
        for cut in 0...Self.multiLine.count {
            #expect(Self.frame(Self.multiLine, cuts: [cut]) == Self.multiLineItems, "cut at \(cut)")
        }
    }

    @Test("split at every pair of byte positions gives the same lines")
    func everyPairOfSplits() {
        for a in 0...Self.multiLine.count {
            for b in a...Self.multiLine.count {
                #expect(Self.frame(Self.multiLine, cuts: [a, b]) == Self.multiLineItems, "cuts at \(a), \(b)")
            }
        }
    }

    @Test("fed one byte at a time gives the same lines")
    func byteByByte() {
        #expect(Self.frame(Self.multiLine, cuts: Array(1..<Self.multiLine.count)) == Self.multiLineItems)
    }

    @Test("\\r\\n and \\n both end a line; only one \\r before \\n is dropped; a lone \\r stays", arguments: [
        ("a\r\nb\n", ["a", "b"]),
        ("a\r\r\n", ["a\r"]),
        ("a\rb\n", ["a\rb"]),
        ("\r\n", [""]),
        ("\r\r\n", ["\r"]),
        ("\n\n\n", ["", "", ""]),
        ("x\n\r\n \n", ["x", "", " "]),
    ] as [(String, [String])])
    func lineEndings(_ input: String, _ lines: [String]) {
        let bytes = Array(input.utf8)
        let expected = lines.map(Self.line)
        for cut in 0...bytes.count {
            #expect(Self.frame(bytes, cuts: [cut]) == expected, "cut at \(cut)")
        }
    }

    @Test("an unfinished line is held, not emitted, until its newline arrives")
    func partialLine() {
        var framer = LineFramer()
        #expect(!framer.hasPartialLine)
        #expect(framer.feed(Array("PING\nVOTE a".utf8)) == [Self.line("PING")])
        #expect(framer.hasPartialLine)
        #expect(framer.feed(Array(" b c".utf8)) == [])
        #expect(framer.feed([]) == [])
        #expect(framer.feed(Array("\n".utf8)) == [Self.line("VOTE a b c")])
        #expect(!framer.hasPartialLine)
    }

    @Test("NUL and other bytes pass through as line bytes")
    func nulBytes() {
        let bytes: [UInt8] = [0x41, 0x00, 0x42, 0x0A, 0x00, 0x0A, 0xFF, 0xFE, 0x0D, 0x0A]
        let expected: [LineFramer.Item] = [.line([0x41, 0x00, 0x42]), .line([0x00]), .line([0xFF, 0xFE])]
        for cut in 0...bytes.count {
            #expect(Self.frame(bytes, cuts: [cut]) == expected, "cut at \(cut)")
        }
    }

    @Test("the emitting feed gives the same lines as the array feed")
    func emittingFeed() {
        var framer = LineFramer()
        var items: [LineFramer.Item] = []
        Self.multiLine.withUnsafeBytes { raw in
            framer.feed(raw) { framed in
                switch framed {
                case .line(let line): items.append(.line(Array(line)))
                case .tooLong: items.append(.tooLong)
                }
            }
        }
        #expect(items == Self.multiLineItems)
    }

    // MARK: End of stream

    static func finish(_ framer: inout LineFramer) -> [LineFramer.Item] {
        var items: [LineFramer.Item] = []
        framer.finish { framed in
            switch framed {
            case .line(let line): items.append(.line(Array(line)))
            case .tooLong: items.append(.tooLong)
            }
        }
        return items
    }

    @Test("finish emits a last line that had no newline, then holds nothing")
    func finishEmitsLastLine() {
        var framer = LineFramer()
        #expect(framer.feed(Array("PING\nQUIT".utf8)) == [Self.line("PING")])
        #expect(Self.finish(&framer) == [Self.line("QUIT")])
        #expect(!framer.hasPartialLine)
        #expect(Self.finish(&framer) == [])
        #expect(framer.feed(Array("HELP\n".utf8)) == [Self.line("HELP")])
    }

    @Test("finish emits nothing when the stream ended at a newline")
    func finishAfterNewline() {
        var framer = LineFramer()
        #expect(framer.feed(Array("PING\n".utf8)) == [Self.line("PING")])
        #expect(Self.finish(&framer) == [])
        var fresh = LineFramer()
        #expect(Self.finish(&fresh) == [])
    }

    @Test("finish after an over-long line already reported emits nothing more and resets")
    func finishWhileDiscarding() {
        var framer = LineFramer(maxLine: 8)
        #expect(framer.feed(Array("0123456789abc".utf8)) == [.tooLong])
        #expect(Self.finish(&framer) == [])
        #expect(!framer.hasPartialLine)
        #expect(framer.feed(Array("ok\n".utf8)) == [Self.line("ok")])
    }

    // MARK: Over-long lines

    @Test("a line of exactly maxLine bytes is accepted, at every split, with \\n or \\r\\n", arguments: [8, 4096])
    func exactlyMaxLine(_ maxLine: Int) {
        let body = (0..<maxLine).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        for ending in ["\n", "\r\n"] {
            let bytes = body + Array(ending.utf8) + Array("next\n".utf8)
            let expected: [LineFramer.Item] = [.line(body), Self.line("next")]
            #expect(Self.frame(bytes, cuts: [], maxLine: maxLine) == expected)
            let cuts = maxLine <= 8 ? Array(0...bytes.count) : [0, 1, maxLine / 2, maxLine - 1, maxLine, maxLine + 1, bytes.count - 1]
            for cut in cuts {
                #expect(Self.frame(bytes, cuts: [cut], maxLine: maxLine) == expected, "ending \(ending.debugDescription), cut at \(cut)")
            }
            if maxLine <= 8 {
                #expect(Self.frame(bytes, cuts: Array(1..<bytes.count), maxLine: maxLine) == expected)
            }
        }
    }

    @Test("a line of maxLine+1 bytes is tooLong once and the following line is still framed", arguments: [8, 4096])
    func maxLinePlusOne(_ maxLine: Int) {
        let long = Array(repeating: UInt8(ascii: "x"), count: maxLine + 1)
        for ending in ["\n", "\r\n"] {
            let bytes = long + Array(ending.utf8) + Array("PING\n".utf8)
            let expected: [LineFramer.Item] = [.tooLong, Self.line("PING")]
            #expect(Self.frame(bytes, cuts: [], maxLine: maxLine) == expected)
            let cuts = maxLine <= 8 ? Array(0...bytes.count) : [0, 1, maxLine - 1, maxLine, maxLine + 1, maxLine + 2, bytes.count - 1]
            for cut in cuts {
                #expect(Self.frame(bytes, cuts: [cut], maxLine: maxLine) == expected, "ending \(ending.debugDescription), cut at \(cut)")
            }
            if maxLine <= 8 {
                #expect(Self.frame(bytes, cuts: Array(1..<bytes.count), maxLine: maxLine) == expected)
            }
        }
    }

    @Test("consecutive over-long lines are each reported once, with good lines between them framed")
    func consecutiveLongLines() {
        let long = String(repeating: "y", count: 20)
        let bytes = Array("\(long)\nok\n\(long)\r\n\(long)\nend\n".utf8)
        let expected: [LineFramer.Item] = [.tooLong, Self.line("ok"), .tooLong, .tooLong, Self.line("end")]
        for cut in 0...bytes.count {
            #expect(Self.frame(bytes, cuts: [cut], maxLine: 8) == expected, "cut at \(cut)")
        }
        #expect(Self.frame(bytes, cuts: Array(1..<bytes.count), maxLine: 8) == expected)
    }

    @Test("a 1 MB line in 1000-byte chunks gives exactly one tooLong, holds at most maxLine+1 bytes, and the next line parses")
    func megabyteLine() {
        var framer = LineFramer(maxLine: 4096)
        var items: [LineFramer.Item] = []
        let chunk = Array(repeating: UInt8(ascii: "z"), count: 1000)
        var maxHeld = 0
        for _ in 0..<1000 {
            items += framer.feed(chunk)
            #expect(framer.hasPartialLine)
            if let held = Self.heldBytes(framer) { maxHeld = max(maxHeld, held) } else { Issue.record("cannot see the held bytes") }
        }
        #expect(items == [.tooLong])
        #expect(maxHeld <= framer.maxLine + 1)
        items += framer.feed(Array("zzz\r\nPING\n".utf8))
        #expect(items == [.tooLong, Self.line("PING")])
        #expect(!framer.hasPartialLine)
    }

    @Test("an over-long line that arrives whole in one chunk is tooLong once")
    func longLineInOneChunk() {
        let bytes = Array(repeating: UInt8(ascii: "q"), count: 10_000) + [0x0A] + Array("HELP\n".utf8)
        var framer = LineFramer(maxLine: 4096)
        #expect(framer.feed(bytes) == [.tooLong, Self.line("HELP")])
        #expect(!framer.hasPartialLine)
    }

    @Test("the tooLong report comes as soon as the line is known to be too long, before its newline")
    func earlyReport() {
        var framer = LineFramer(maxLine: 8)
        #expect(framer.feed(Array("123456789".utf8)) == [])            // 9 bytes: could still be 8 + \r
        #expect(framer.feed(Array("0".utf8)) == [.tooLong])             // 10 bytes: too long whatever follows
        #expect(framer.feed(Array("more bytes".utf8)) == [])
        #expect(framer.feed(Array("\nok\n".utf8)) == [Self.line("ok")])
    }
}
