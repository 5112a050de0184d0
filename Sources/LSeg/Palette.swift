/// Label colours: 256 of them, the first 20 chosen to be far apart (a widely used set of
/// distinct colours), the rest spread around the hue circle by the golden angle with varying
/// saturation and brightness, so neighbouring labels never look alike.
public enum Palette {
    public static let colours: [(UInt8, UInt8, UInt8)] = {
        var c: [(UInt8, UInt8, UInt8)] = [
            (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
            (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
            (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
        ]
        var hue = 0.0
        var k = 0
        while c.count < 256 {
            hue = (hue + 137.507_764).truncatingRemainder(dividingBy: 360)
            let saturation = [0.85, 0.6, 0.95][k % 3]
            let value = [0.95, 0.75, 0.55, 0.85][k % 4]
            c.append(hsv(hue, saturation, value))
            k += 1
        }
        return c
    }()

    /// The colour of label `index` (wrapping past 256).
    public static func colour(_ index: Int) -> (UInt8, UInt8, UInt8) {
        colours[((index % colours.count) + colours.count) % colours.count]
    }

    static func hsv(_ h: Double, _ s: Double, _ v: Double) -> (UInt8, UInt8, UInt8) {
        let c = v * s
        let hp = h / 60
        let x = c * (1 - abs(hp.truncatingRemainder(dividingBy: 2) - 1))
        let (r, g, b): (Double, Double, Double)
        switch Int(hp) {
        case 0: (r, g, b) = (c, x, 0)
        case 1: (r, g, b) = (x, c, 0)
        case 2: (r, g, b) = (0, c, x)
        case 3: (r, g, b) = (0, x, c)
        case 4: (r, g, b) = (x, 0, c)
        default: (r, g, b) = (c, 0, x)
        }
        let m = v - c
        func byte(_ f: Double) -> UInt8 { UInt8(max(0, min(255, ((f + m) * 255).rounded()))) }
        return (byte(r), byte(g), byte(b))
    }
}
