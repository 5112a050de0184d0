import Glibc
import LSeg
import Runtime

// The C API declared in include/lseg.h. Every entry point validates its arguments before any
// Swift code that could trap sees them, and turns every thrown error into a status code plus a
// per-thread message: nothing crashes across the C boundary.

private let statusOK: Int32 = 0
private let statusArgument: Int32 = 1
private let statusPack: Int32 = 2
private let statusLabels: Int32 = 3
private let statusRuntime: Int32 = 4

/// What a `lseg_model *` points at (an Unmanaged reference).
final class CModel: @unchecked Sendable {
    let segmenter: Segmenter
    let lock = PThreadLock()
    /// NUL-terminated copies of the current label names, owned here.
    private(set) var labelNames: [UnsafeMutablePointer<CChar>] = []
    private var labels: [String] = []

    init(segmenter: Segmenter) {
        self.segmenter = segmenter
        setLabels(segmenter.bakedLabels ?? [])
    }

    func setLabels(_ new: [String]) {
        guard new != labels || labelNames.count != new.count else { return }
        for p in labelNames { free(p) }
        labels = new
        labelNames = new.map { strdup($0)! }
    }

    deinit { for p in labelNames { free(p) } }
}

/// This thread's last error message (malloc'ed), freed when replaced or when the thread ends.
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

nonisolated(unsafe) private let emptyMessage: UnsafeMutablePointer<CChar> = strdup("")!

private func setError(_ message: String) {
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(message))
    free(old)
}

private func clearError() {
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, nil)
    free(old)
}

private func fail(_ status: Int32, _ message: String) -> Int32 {
    setError(message)
    return status
}

private func model(_ handle: OpaquePointer?) -> CModel? {
    guard let handle else { return nil }
    return Unmanaged<CModel>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

@_cdecl("lseg_open")
public func lseg_open(_ path: UnsafePointer<CChar>?, _ threads: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(statusArgument, "lseg_open: out is NULL") }
    out.pointee = nil
    guard let path else { return fail(statusArgument, "lseg_open: path is NULL") }
    guard threads >= 0, threads <= 1024 else { return fail(statusArgument, "lseg_open: threads is \(threads), want 0 (all cores) to 1024") }
    guard let file = String(validatingCString: path) else { return fail(statusArgument, "lseg_open: path is not UTF-8") }
    do {
        let n = threads == 0 ? ProcessorCount.active : Int(threads)
        let segmenter = try Segmenter(packAt: file, threads: n)
        out.pointee = OpaquePointer(Unmanaged.passRetained(CModel(segmenter: segmenter)).toOpaque())
        clearError()
        return statusOK
    } catch {
        return fail(error is RuntimeError || error is LSegError ? statusPack : statusRuntime, "\(file): \(error)")
    }
}

@_cdecl("lseg_close")
public func lseg_close(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<CModel>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@_cdecl("lseg_label_count")
public func lseg_label_count(_ handle: OpaquePointer?) -> Int32 {
    guard let m = model(handle) else { return -1 }
    m.lock.lock(); defer { m.lock.unlock() }
    return Int32(m.labelNames.count)
}

@_cdecl("lseg_label_name")
public func lseg_label_name(_ handle: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    guard let m = model(handle) else { setError("lseg_label_name: model is NULL"); return nil }
    m.lock.lock(); defer { m.lock.unlock() }
    guard index >= 0, Int(index) < m.labelNames.count else {
        setError("lseg_label_name: index \(index) is out of range (\(m.labelNames.count) labels)")
        return nil
    }
    return UnsafePointer(m.labelNames[Int(index)])
}

@_cdecl("lseg_has_baked_labels")
public func lseg_has_baked_labels(_ handle: OpaquePointer?) -> Int32 {
    guard let m = model(handle) else { return -1 }
    return m.segmenter.bakedLabels == nil ? 0 : 1
}

@_cdecl("lseg_segment")
public func lseg_segment(_ handle: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ width: Int32, _ height: Int32, _ stride: Int32,
                         _ labels: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int32,
                         _ labelMap: UnsafeMutablePointer<UInt8>?, _ labelMapSize: Int) -> Int32 {
    guard let m = model(handle) else { return fail(statusArgument, "lseg_segment: model is NULL") }
    guard let rgb else { return fail(statusArgument, "lseg_segment: rgb is NULL") }
    guard let labelMap else { return fail(statusArgument, "lseg_segment: label_map is NULL") }
    guard width > 0, height > 0 else { return fail(statusArgument, "lseg_segment: image size \(width)x\(height) is not positive") }
    let w = Int(width), h = Int(height), s = Int(stride)
    // Int32 factors: these products cannot overflow a 64-bit Int.
    guard w * h <= ImageIO.defaultMaxPixels else {
        return fail(statusArgument, "lseg_segment: image \(w)x\(h) has more than \(ImageIO.defaultMaxPixels) pixels")
    }
    guard s >= 3 * w else { return fail(statusArgument, "lseg_segment: stride \(s) is less than 3 x width (\(3 * w))") }
    guard labelMapSize >= w * h else {
        return fail(statusArgument, "lseg_segment: label_map holds \(labelMapSize) bytes, the image needs \(w * h)")
    }
    var names: [String]?
    if labelCount != 0 || labels != nil {
        guard let labels else { return fail(statusArgument, "lseg_segment: labels is NULL but label_count is \(labelCount)") }
        guard labelCount > 0, labelCount <= 255 else {
            return fail(statusArgument, "lseg_segment: label_count is \(labelCount), want 1 to 255")
        }
        var list: [String] = []
        for i in 0..<Int(labelCount) {
            guard let p = labels[i] else { return fail(statusArgument, "lseg_segment: labels[\(i)] is NULL") }
            guard let name = String(validatingCString: p) else { return fail(statusArgument, "lseg_segment: labels[\(i)] is not UTF-8") }
            guard !name.isEmpty else { return fail(statusArgument, "lseg_segment: labels[\(i)] is empty") }
            list.append(name)
        }
        names = list
    }

    m.lock.lock(); defer { m.lock.unlock() }
    let chosen: [String]
    do {
        chosen = try m.segmenter.resolveLabels(names)
    } catch {
        return fail(statusLabels, "lseg_segment: \(error)")
    }
    guard chosen.count <= 255 else { return fail(statusLabels, "lseg_segment: \(chosen.count) labels do not fit a uint8 label map") }
    do {
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h { (dst.baseAddress! + y * w * 3).update(from: rgb + y * s, count: w * 3) }
        }
        let result = try m.segmenter.segment(RGBImage(width: w, height: h, pixels: pixels), labels: chosen)
        guard result.labelMap.count == w * h else { return fail(statusRuntime, "lseg_segment: label map has \(result.labelMap.count) pixels, want \(w * h)") }
        for (i, l) in result.labelMap.enumerated() { labelMap[i] = UInt8(truncatingIfNeeded: l) }
        m.setLabels(chosen)
        clearError()
        return statusOK
    } catch {
        return fail(statusRuntime, "lseg_segment: \(error)")
    }
}

@_cdecl("lseg_last_error")
public func lseg_last_error() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return UnsafePointer(emptyMessage)
}

nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> = strdup(LSegKit.version)!

@_cdecl("lseg_version")
public func lseg_version() -> UnsafePointer<CChar> { UnsafePointer(versionString) }
